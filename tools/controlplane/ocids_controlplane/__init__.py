"""A real local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager) for tests
and development, built from upstream source by tools/controlplane/build.sh."""

from .binaries import MissingBinaryError, bin_dir, binary
from .cluster import Cluster, CommandError, ExternalCluster
from .controlplane import ControlPlane, ControlPlaneStartError
from .waiting import WaitTimeout, wait_until

__all__ = [
    "Cluster",
    "CommandError",
    "ControlPlane",
    "ControlPlaneStartError",
    "ExternalCluster",
    "MissingBinaryError",
    "WaitTimeout",
    "bin_dir",
    "binary",
    "wait_until",
]
