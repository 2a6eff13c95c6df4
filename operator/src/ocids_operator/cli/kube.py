"""TrainingJobs and TrainingJobRuns as the user's kubeconfig sees them (read only).

KUBECONFIG (several files joined by the path separator, as kubectl merges them) or --kubeconfig,
--context, and -n/--namespace whose default is the context's namespace, else `default`: what
kubectl itself does, so `kubectl ocids` looks where `kubectl get` looks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..api import GROUP, TRAINING_JOB, TRAINING_JOB_RUN, VERSION
from ..core.times import parse_time
from .errors import CliError

Obj = dict[str, Any]


def created(obj: Obj) -> tuple[str, str]:
    """Sort key: creationTimestamp, then name (two runs made in the same second)."""
    meta = obj.get("metadata") or {}
    stamp = parse_time(meta.get("creationTimestamp"))
    return (stamp.isoformat() if stamp else "", str(meta.get("name", "")))


def newest_run(runs: list[Obj], job: str) -> Obj | None:
    mine = [run for run in runs if ((run.get("spec") or {}).get("jobRef") or {}).get("name") == job]
    return max(mine, key=created, default=None)


@dataclass
class Cluster:
    """Reads of the two kinds in one namespace through the `kubernetes` client."""

    api: Any  # kubernetes.client.CustomObjectsApi
    namespace: str

    def _call(self, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        from kubernetes.client.rest import ApiException

        try:
            return fn(GROUP, VERSION, self.namespace, *args)
        except ApiException as exc:
            if exc.status == 404:
                return None
            why = f"{exc.status} {exc.reason or ''}".strip()
            retryable = exc.status == 429 or (exc.status or 0) >= 500
            raise CliError(
                f"cannot read {what} in namespace {self.namespace}: {why}", retryable=retryable
            ) from None
        except OSError as exc:  # urllib3's connection errors are OSErrors
            raise CliError(f"cannot reach the Kubernetes API server: {exc}", retryable=True) from None

    def get_run(self, name: str) -> Obj | None:
        found: Obj | None = self._call(
            f"TrainingJobRun {name}", self.api.get_namespaced_custom_object, TRAINING_JOB_RUN.plural, name
        )
        return found

    def get_job(self, name: str) -> Obj | None:
        found: Obj | None = self._call(
            f"TrainingJob {name}", self.api.get_namespaced_custom_object, TRAINING_JOB.plural, name
        )
        return found

    def list_runs(self) -> list[Obj]:
        listed = self._call(
            "TrainingJobRuns", self.api.list_namespaced_custom_object, TRAINING_JOB_RUN.plural
        )
        return list((listed or {}).get("items") or [])

    def get_config_map_data(self, name: str) -> dict[str, str] | None:
        """A ConfigMap's data (a TrainingJob's archive of pruned runs); None when there is none."""
        from kubernetes.client import CoreV1Api

        core = CoreV1Api(self.api.api_client)

        def read(_group: str, _version: str, namespace: str, config_map: str) -> Obj:
            return {"data": core.read_namespaced_config_map(config_map, namespace).data or {}}

        found = self._call(f"ConfigMap {name}", read, name)
        return None if found is None else dict(found["data"])


def connect(kubeconfig: str | None, context: str | None, namespace: str | None) -> Cluster:
    """A client for the kubeconfig's (or --context's) cluster, and the namespace to look in."""
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    try:
        contexts, active = config.list_kube_config_contexts(config_file=kubeconfig)
        if context is not None:
            active = next((c for c in contexts if c.get("name") == context), None)
            if active is None:
                raise CliError(f"--context {context}: no such context in the kubeconfig")
        api_client = config.new_client_from_config(config_file=kubeconfig, context=context)
    except ConfigException as exc:
        raise CliError(f"cannot load the kubeconfig (KUBECONFIG or --kubeconfig): {exc}") from None
    except OSError as exc:
        raise CliError(f"cannot read the kubeconfig: {exc}") from None
    chosen = namespace or ((active or {}).get("context") or {}).get("namespace") or "default"
    return Cluster(client.CustomObjectsApi(api_client), chosen)


@dataclass(frozen=True)
class Target:
    """What a NAME on the command line means: a TrainingJobRun, or a TrainingJob (and its newest run)."""

    run: Obj | None
    job: Obj | None


def resolve(cluster: Cluster, name: str) -> Target:
    """A TrainingJobRun named NAME, else the TrainingJob NAME with its newest run (None: none yet)."""
    run = cluster.get_run(name)
    if run is not None:
        return Target(run=run, job=None)
    job = cluster.get_job(name)
    if job is None:
        raise CliError(f"no TrainingJobRun or TrainingJob named {name} in namespace {cluster.namespace}")
    return Target(run=newest_run(cluster.list_runs(), name), job=job)
