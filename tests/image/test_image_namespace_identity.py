"""The image, installed by the chart with `namespaceIdentity.enabled=true`, works in OCI as a team's
own ServiceAccount, with only the RBAC the chart renders.

The operator's release lives in one namespace; the team's in another (the only one it watches), with
a ServiceAccount `trainer` its admin names in `ocids.io/service-account`. OCI's policies allow that
ServiceAccount and nothing else, least of all the operator's own: every job and run the team gets
was created and followed by a token the operator minted for `trainer` (TokenRequest, the chart's
`serviceaccounts/token` rule in the team's Role) and exchanged at the proxymux, as a Pod would.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import operator_scripts as scripts
import pytest
from chart_pod import ChartPod
from ocids_emulator.api.identity.proxymux import cluster_id
from operator_harness import JOBS, RUNS, Scenario
from test_image_starts_like_the_chart import logs_on_failure, wait_phase
from test_image_workload_identity import chart, emulator, service_ip

__all__ = ["chart", "emulator", "service_ip"]  # this module's fixtures, shared with the workload test

TEAM_SA = "trainer"
SERVICE_ACCOUNT_ANNOTATION = "ocids.io/service-account"


@pytest.fixture
def team(world: Scenario, cluster: Any) -> Iterator[Scenario]:
    """A team's namespace beside the release's: granted the test's compartment, its ServiceAccount
    named as the namespace's OCI identity (both by a cluster admin)."""
    name = f"{world.namespace[:50]}-team"
    cluster.kubectl("create", "namespace", name)
    world.kube.grant_compartments(name, world.compartment_id)
    cluster.kubectl("create", "serviceaccount", TEAM_SA, "-n", name)
    cluster.kubectl("annotate", "namespace", name, f"{SERVICE_ACCOUNT_ANNOTATION}={TEAM_SA}")
    yield dataclasses.replace(world, namespace=name)
    cluster.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


def team_only_policies(compartment: str, namespace: str, cluster: str) -> list[str]:
    """The chart README's statements for oke_workload_identity, written for the team's ServiceAccount
    in this cluster: the operator's own ServiceAccount is granted nothing."""
    where = (
        "where all {request.principal.type='workload', "
        f"request.principal.namespace='{namespace}', request.principal.service_account='{TEAM_SA}', "
        f"request.principal.cluster_id='{cluster}'}}"
    )
    location = f"in compartment id {compartment} {where}"
    return [
        f"Allow any-user to manage data-science-family {location}",
        f"Allow any-user to use log-content {location}",
        f"Allow any-user to manage logging-family {location}",
    ]


def test_image_works_in_oci_as_the_teams_service_account_with_the_charts_rbac(
    chart: Callable[..., ChartPod],
    world: Scenario,
    team: Scenario,
    emulator: Any,
    service_ip: str,
    cluster: Any,
    request: pytest.FixtureRequest,
) -> None:
    pod = chart(
        "--set", "oci.auth=oke_workload_identity", "--set", "namespaceIdentity.enabled=true",
        "--set", f"watchNamespaces={{{team.namespace}}}", "--set", "pollIntervalSeconds=1",
        "--set", "extraEnv[0].name=OCIDS_RETRY_MAX_SECONDS", "--set-string", "extraEnv[0].value=3",
    )  # fmt: skip
    operator_account = pod.deployment["spec"]["template"]["spec"]["serviceAccountName"]
    assert operator_account != TEAM_SA
    # The only TokenRequest rights the operator has are the chart's, in the team's namespace.
    (team_role,) = [r for r in pod.of_kind("Role") if r["metadata"]["namespace"] == team.namespace]
    assert {"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]} in team_role[
        "rules"
    ], team_role
    pod.service_ip = service_ip
    pod.extra_ca_certs = Path(emulator.proxymux_ca_file).read_bytes()

    policies = team_only_policies(
        world.compartment_id, team.namespace, cluster_id(cluster.server.rstrip("/"), emulator.ids["REGION"])
    )
    world.admin.set_policies(policies)
    assert world.admin.policies()["policies"] == policies

    team.apply(
        team.job("attrition", scripts.TRAIN, env={"EPOCHS": "2"}), team.run("attrition-1", "attrition")
    )
    container, command = pod.start()
    with logs_on_failure(request, container, command):
        job = wait_phase(team, container, JOBS, "attrition", "Active", timeout=120)
        run = wait_phase(team, container, RUNS, "attrition-1", "Succeeded", timeout=180)
        assert run["status"]["exitCode"] == 0
        assert run["status"]["jobId"] == job["status"]["jobId"]

        stats = world.admin.stats()
        # Every OCI call the container made was the team's ServiceAccount's, in the team's namespace;
        # none was its own (it has no policy: it would have been refused and counted).
        assert set(stats.get("principals") or {}) == {"workload"}, stats
        assert set(stats.get("workloads") or {}) == {f"{team.namespace}/{TEAM_SA}"}, stats
        assert not any((stats.get("policyDenials") or {}).values()), world.admin.denials()
        assert container.inspect()["RestartCount"] == 0
        assert "Traceback" not in container.logs()
