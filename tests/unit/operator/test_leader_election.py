"""Leader election around the `kubernetes` library: the settings it would refuse, where the Lease is,
and what the lock adds to the library (prompt notice of a new holder, transport errors as failed
attempts, release), driven through the library's own `try_acquire_or_renew` against a fake Lease API.
"""

from __future__ import annotations

import copy
import datetime
import json
import os
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException
from kubernetes.leaderelection.leaderelection import LeaderElection
from ocids_operator.adapters import leader_election
from ocids_operator.adapters.leader_election import Elector, LeaseConfig, lease_config, timing_problem
from ocids_operator.rbac import lease_rules
from ocids_operator.settings import OperatorSettings


class FakeLeaseApi:
    """One Lease, with the API server's optimistic concurrency on replace."""

    def __init__(self) -> None:
        self.lease: client.V1Lease | None = None
        self.version = 0
        self.fail: Exception | None = None

    def _check(self) -> None:
        if self.fail is not None:
            raise self.fail

    def read_namespaced_lease(self, name: str, namespace: str, **_: Any) -> client.V1Lease:
        self._check()
        if self.lease is None:
            missing = ApiException(status=404, reason="Not Found")
            missing.body = json.dumps({"kind": "Status", "code": 404})  # what the API server sends
            raise missing
        return copy.deepcopy(self.lease)

    def create_namespaced_lease(self, namespace: str, body: client.V1Lease, **_: Any) -> client.V1Lease:
        self._check()
        if self.lease is not None:
            raise ApiException(status=409, reason="AlreadyExists")
        return self._store(body)

    def replace_namespaced_lease(self, name: str, namespace: str, body: client.V1Lease, **_: Any) -> Any:
        self._check()
        assert self.lease is not None
        if str(body.metadata.resource_version) != str(self.version):
            raise ApiException(status=409, reason="Conflict")
        return self._store(body)

    def _store(self, body: client.V1Lease) -> client.V1Lease:
        self.version += 1
        body = copy.deepcopy(body)
        if isinstance(body.metadata, dict):
            body.metadata = client.V1ObjectMeta(**body.metadata)
        body.metadata.resource_version = str(self.version)
        self.lease = body
        return copy.deepcopy(body)

    def take(self, identity: str) -> None:
        assert self.lease is not None
        self.lease.spec.holder_identity = identity
        self.lease.spec.renew_time = datetime.datetime.now(datetime.UTC)
        self.version += 1
        self.lease.metadata.resource_version = str(self.version)


LEASE = LeaseConfig("ops", "ocids-operator", "me", lease_duration=15, renew_deadline=10, retry_period=2)


def elector(api: FakeLeaseApi, identity: str = "me", lost: list[str] | None = None) -> Elector:
    config = LeaseConfig("ops", "ocids-operator", identity, 15, 10, 2)
    found = lost if lost is not None else []
    made = Elector(config, client.ApiClient(client.Configuration()), on_lost=found.append)
    made.lock.api_instance = leader_election._BoundedLeaseApi(api, timeout=2)  # type: ignore[arg-type]
    return made


def attempt(made: Elector) -> bool:
    return bool(LeaderElection(made._config).try_acquire_or_renew())


def settings(**values: Any) -> OperatorSettings:
    return OperatorSettings(**values)


def test_the_default_timings_suit_the_library() -> None:
    assert timing_problem(settings()) is None


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"leader_election_retry_period_seconds": 0.5}, "OCIDS_LEADER_ELECTION_RETRY_PERIOD_SECONDS"),
        (
            {"leader_election_retry_period_seconds": 2, "leader_election_renew_deadline_seconds": 2.2},
            "OCIDS_LEADER_ELECTION_RENEW_DEADLINE_SECONDS",
        ),
    ],
)
def test_timings_the_library_would_exit_on_are_refused_by_name(values: dict[str, Any], named: str) -> None:
    problem = timing_problem(settings(**values))
    assert problem is not None and named in problem


def test_the_lease_is_in_the_setting_s_namespace_else_the_pod_s(tmp_path: Path) -> None:
    account = tmp_path / "namespace"
    account.write_text("from-account\n")
    named = settings(leader_election_namespace="chosen", leader_election_lease_duration_seconds=12.5)
    assert lease_config(named, {"POD_NAMESPACE": "pod"}, account).namespace == "chosen"
    assert lease_config(named, {}, account).lease_duration == 13  # whole seconds, rounded up
    assert lease_config(settings(), {"POD_NAMESPACE": "pod"}, account).namespace == "pod"
    assert lease_config(settings(), {}, account).namespace == "from-account"
    assert lease_config(settings(), {}, tmp_path / "absent").namespace == "default"
    identity = lease_config(settings(), {}, account).identity
    assert identity.endswith(f"_{os.getpid()}")
    assert lease_config(settings(leader_election_identity="pod-a"), {}, account).identity == "pod-a"


def test_the_first_candidate_leads_and_the_second_waits() -> None:
    api = FakeLeaseApi()
    first, second = elector(api, "a"), elector(api, "b")
    assert attempt(first) and api.lease is not None and api.lease.spec.holder_identity == "a"
    assert api.lease.spec.lease_duration_seconds == 15
    assert not attempt(second)
    assert api.lease.spec.holder_identity == "a"


def test_a_leader_hears_at_once_that_the_lease_names_another_holder() -> None:
    api, lost = FakeLeaseApi(), []
    made = elector(api, "me", lost)
    assert attempt(made)
    made._started()
    assert attempt(made) and lost == []  # its own renewals
    api.take("intruder")
    assert not attempt(made)
    assert lost == ["the Lease names intruder now"]
    assert api.lease is not None and api.lease.spec.holder_identity == "intruder"


def test_a_standby_seeing_another_holder_is_not_a_loss() -> None:
    api, lost = FakeLeaseApi(), []
    assert attempt(elector(api, "a"))
    assert not attempt(elector(api, "b", lost))
    assert lost == []


def test_an_unreachable_api_server_is_a_failed_attempt_not_a_dead_election_thread() -> None:
    api = FakeLeaseApi()
    made = elector(api)
    api.fail = ConnectionRefusedError("connection refused")
    assert not attempt(made)
    api.fail = None
    assert attempt(made)


def test_release_empties_the_holder_so_a_standby_takes_over_without_waiting() -> None:
    api = FakeLeaseApi()
    leader, standby = elector(api, "a"), elector(api, "b")
    assert attempt(leader)
    assert not attempt(standby)
    assert leader.release()
    assert api.lease is not None and api.lease.spec.holder_identity is None
    assert api.lease.spec.lease_duration_seconds == 1
    assert not attempt(leader), "a released lock renews no more"
    assert attempt(standby) and api.lease.spec.holder_identity == "b"
    leader.lost("anything")  # after a release, a loss is expected, not reported


def test_release_leaves_a_lease_held_by_another_alone() -> None:
    api = FakeLeaseApi()
    assert attempt(elector(api, "a"))
    assert not elector(api, "b").release()
    assert api.lease is not None and api.lease.spec.holder_identity == "a"


def test_a_leader_is_overdue_once_no_renewal_began_within_the_renew_deadline() -> None:
    now = [100.0]
    made = Elector(LEASE, client.ApiClient(client.Configuration()), on_lost=print, clock=lambda: now[0])
    assert not made.overdue()
    made._started()
    now[0] = 109.0
    assert not made.overdue()
    made._renewed(108.0)
    now[0] = 118.5
    assert made.overdue()


def test_a_loss_is_reported_once() -> None:
    lost: list[str] = []
    made = Elector(LEASE, client.ApiClient(client.Configuration()), on_lost=lost.append)
    made.lost("first")
    made.lost("second")
    assert lost == ["first"]


def test_leases_are_granted_in_their_namespace_with_what_the_library_calls() -> None:
    (rule,) = lease_rules()
    assert rule.grants() == {("coordination.k8s.io", "leases", verb) for verb in ("get", "create", "update")}


def test_the_flags_switch_it_on_and_name_the_namespace_without_overriding_the_environment() -> None:
    from ocids_operator.__main__ import parse_args

    assert parse_args([]) == {}
    assert parse_args(["--leader-election", "--leader-election-namespace", "ops"]) == {
        "leader_election": True,
        "leader_election_namespace": "ops",
    }
