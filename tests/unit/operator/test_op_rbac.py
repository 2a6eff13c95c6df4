"""`ocids_operator.rbac` grants what the operator uses, and no resource it does not use.

What is used is derived, not restated: the resources kopf's handlers are registered for, and the
requests our own Kubernetes client sends (recorded from its real methods).
"""

from __future__ import annotations

import asyncio
from typing import Any

import kopf
from ocids_operator import handlers, rbac
from ocids_operator.adapters.kube import KubeClient
from ocids_operator.adapters.kueue import KueueApi
from ocids_operator.adapters.namespaces import NamespaceDirectory
from ocids_operator.settings import OperatorSettings

VERB_OF_METHOD = {"GET": "get", "PATCH": "patch", "POST": "create", "PUT": "update", "DELETE": "delete"}
# kopf itself, whatever the handlers: it scans CRDs and namespaces, and posts through events.k8s.io.
KOPF_ITSELF = {
    ("apiextensions.k8s.io", "customresourcedefinitions", "list"),
    ("apiextensions.k8s.io", "customresourcedefinitions", "watch"),
    ("", "namespaces", "list"),
    ("", "namespaces", "watch"),
    ("events.k8s.io", "events", "create"),
    ("events.k8s.io", "events", "patch"),
}


def granted() -> set[tuple[str, str, str]]:
    triples: set[tuple[str, str, str]] = set()
    for rule in rbac.cluster_rules() + rbac.namespaced_rules():
        triples |= rule.grants()
    return triples


def used_by_handlers() -> set[tuple[str, str, str]]:
    registry = kopf.OperatorRegistry()
    handlers.register(registry, OperatorSettings())
    used: set[tuple[str, str, str]] = set()
    for handler in [*registry._changing.get_all_handlers(), *registry._spawning.get_all_handlers()]:
        group, plural = handler.selector.group or "", str(handler.selector.any_name)
        used |= {(group, plural, verb) for verb in ("list", "watch", "patch")}
        used |= {(group, f"{plural}/status", "patch")}
        if getattr(handler, "reason", None) == kopf.Reason.DELETE:
            used.add((group, f"{plural}/finalizers", "update"))
    for handler in registry._watching.get_all_handlers():  # event handlers only watch
        group, plural = handler.selector.group or "", str(handler.selector.any_name)
        used |= {(group, plural, verb) for verb in ("list", "watch")}
    return used


class Recorder(KubeClient):
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    async def request(self, method: str, path: str, body: Any = None, *args: Any, **kwargs: Any) -> Any:
        self.seen.append((method, path))
        return {"data": {"k": "dg=="}} if "/secrets/" in path or "/configmaps/" in path else {}


def used_by_our_client() -> set[tuple[str, str, str]]:
    client = Recorder()

    async def every_call() -> None:
        await client.read_secret_key("ns", "s", "k")
        await client.read_config_map_key("ns", "c", "k")
        await client.get_training_job("ns", "j")
        await client.get_training_job_run("ns", "r")
        await client.list_training_job_runs("ns")
        await client.patch_run_status_at("ns", "r", "uid-r", {"phase": "Accepted"}, "1")
        await client.patch_run_status("ns", "r", "uid-r", {"phase": "Accepted"})
        await client.post_event({"metadata": {"namespace": "ns", "name": "r"}}, "Normal", "Created", "m")
        await client.get_config_map("ns", "j-runs-archive")
        await client.write_config_map("ns", {"metadata": {"name": "j-runs-archive"}})
        await client.write_config_map("ns", {"metadata": {"name": "j-runs-archive", "resourceVersion": "1"}})
        await client.delete_training_job_run("ns", "r", "uid-r")
        await client.list_labeled_training_job_runs("ns", "ocids.io/sweep=s")
        await client.create_training_job_run("ns", {"metadata": {"name": "s-000"}})
        await client.cancel_training_job_run("ns", "s-000", "uid-s", {"ocids.io/early-stopped": "m"})
        await NamespaceDirectory(client).annotations("ns")
        kueue = KueueApi(client)
        await kueue.get("ns", "tjr-r")
        await kueue.create("ns", {"metadata": {"name": "tjr-r"}})
        await kueue.set_condition("ns", "tjr-r", {"type": "Finished", "status": "True"})
        await kueue.priority_value("urgent")
        await kueue.delete("ns", "tjr-r", "uid-w")

    asyncio.run(every_call())
    used = set()
    for method, path in client.seen:
        parts = path.partition("?")[0].strip("/").split("/")
        group = "" if parts[0] == "api" else parts[1]
        if "namespaces" not in parts:  # cluster-scoped (a WorkloadPriorityClass)
            used.add((group, parts[3], VERB_OF_METHOD[method]))
            continue
        after_namespace = parts[parts.index("namespaces") + 2 :]
        if not after_namespace:  # the Namespace itself
            used.add((group, "namespaces", VERB_OF_METHOD[method]))
            continue
        resource = after_namespace[0] + ("/" + after_namespace[2] if len(after_namespace) > 2 else "")
        used.add((group, resource, VERB_OF_METHOD[method]))
    return used


def test_everything_the_operator_does_is_granted() -> None:
    missing = (used_by_handlers() | used_by_our_client() | KOPF_ITSELF) - granted()
    assert not missing, sorted(missing)


def test_no_resource_is_granted_that_nothing_uses() -> None:
    used = used_by_handlers() | used_by_our_client() | KOPF_ITSELF
    stray = {(group, resource) for group, resource, _ in granted()} - {(g, r) for g, r, _ in used}
    assert not stray, sorted(stray)
