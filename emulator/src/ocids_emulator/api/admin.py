"""The emulator's own admin API (``/_emulator``, not OCI): health, faults, counts, settings, IAM
policies, run internals.

Unauthenticated and bound to the same address as the OCI paths (loopback unless --host says otherwise).
"""

from __future__ import annotations

from aiohttp import web

from ocids_emulator.api.httpio import EMULATOR_KEY, emulator, json_body, json_response
from ocids_emulator.core.emulator import RUN, Simulation, policy_set
from ocids_emulator.core.errors import invalid, not_found
from ocids_emulator.faults.spec import Faults
from ocids_emulator.security.policies import PolicyError

PREFIX = "/_emulator"


async def health(request: web.Request) -> web.Response:
    emu = request.app[EMULATOR_KEY]
    return json_response({"status": "ok", "region": emu.region, "activeRuns": emu.active_run_count()})


async def get_faults(request: web.Request) -> web.Response:
    return json_response(request.app[EMULATOR_KEY].faults.to_dict())


async def put_faults(request: web.Request) -> web.Response:
    emu = request.app[EMULATOR_KEY]
    emu.set_faults(Faults.from_dict(await json_body(request)))
    return json_response(emu.faults.to_dict())


async def patch_faults(request: web.Request) -> web.Response:
    """Change only the sections the body names, so one test's fault does not drop another's."""
    emu = request.app[EMULATOR_KEY]
    body = await json_body(request)
    Faults.from_dict(body)  # all or nothing: a bad section must not leave the others half applied
    emu.faults.update(body)
    emu.faults_changed()
    return json_response(emu.faults.to_dict())


async def delete_faults(request: web.Request) -> web.Response:
    request.app[EMULATOR_KEY].set_faults(Faults())
    return web.Response(status=204)


async def get_stats(request: web.Request) -> web.Response:
    return json_response(request.app[EMULATOR_KEY].stats.to_dict())


async def delete_stats(request: web.Request) -> web.Response:
    request.app[EMULATOR_KEY].stats.reset()
    return web.Response(status=204)


async def get_policies(request: web.Request) -> web.Response:
    return json_response(request.app[EMULATOR_KEY].policies.to_dict())


async def put_policies(request: web.Request) -> web.Response:
    """Replace the live IAM (``policies``; ``groups``/``dynamicGroups`` when given, else tenancy.json's).
    ``{"policies": null}`` allows everything. Not written to tenancy.json: a restart reads it again."""
    emu = request.app[EMULATOR_KEY]
    body = await json_body(request)
    if "policies" not in body:
        raise invalid("the body must name policies (a list of statements, or null)")
    try:
        new = policy_set(emu.tenancy, body["policies"], body.get("groups"), body.get("dynamicGroups"))
    except PolicyError as exc:
        raise invalid(str(exc)) from None
    if body["policies"] is None:
        new.statements = None
    emu.policies = new
    return json_response(new.to_dict())


async def get_denials(request: web.Request) -> web.Response:
    """What IAM refused lately, oldest first: ``{"denials": [{time, operation, principalType,
    principalId, needs}]}``; ``needs`` is the missing permission in statement form."""
    return json_response({"denials": list(request.app[EMULATOR_KEY].denials)})


async def delete_denials(request: web.Request) -> web.Response:
    request.app[EMULATOR_KEY].denials.clear()
    return web.Response(status=204)


async def put_settings(request: web.Request) -> web.Response:
    """Change the simulated default at runtime (``{"simulated": "2:0"}``, ``"120..240:0"`` or ``null``;
    ``"simulatedSeed"`` seeds the per-run draw of a range)."""
    emu = request.app[EMULATOR_KEY]
    body = await json_body(request)
    if "simulated" in body:
        value = body["simulated"]
        try:
            emu.settings.simulated = Simulation.parse(value) if value else None
        except (ValueError, AttributeError) as exc:
            raise invalid(
                f"simulated must be DURATION_SECONDS[:EXIT_CODE] or LO..HI[:EXIT_CODE]: {exc}"
            ) from None
    if "simulatedSeed" in body:
        seed = body["simulatedSeed"]
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise invalid("simulatedSeed must be an integer")
        emu.settings.simulated_seed = seed
    sim = emu.settings.simulated
    return json_response(
        {"simulated": None if sim is None else sim.text(), "simulatedSeed": emu.settings.simulated_seed}
    )


async def get_effective_configuration(request: web.Request) -> web.Response:
    """Admin: the configuration a run really got (not part of the OCI API)."""
    emu = emulator(request)
    record = emu.store.get(RUN, request.match_info["run_id"])
    if record is None:
        raise not_found(f"job run {request.match_info['run_id']}")
    return json_response(
        {"effective": record.meta.get("effective"), "simulation": record.meta.get("simulation")}
    )


def routes() -> list[web.RouteDef]:
    return [
        web.get(f"{PREFIX}/health", health, allow_head=False),
        web.get(f"{PREFIX}/faults", get_faults, allow_head=False),
        web.put(f"{PREFIX}/faults", put_faults),
        web.patch(f"{PREFIX}/faults", patch_faults),
        web.delete(f"{PREFIX}/faults", delete_faults),
        web.get(f"{PREFIX}/stats", get_stats, allow_head=False),
        web.delete(f"{PREFIX}/stats", delete_stats),
        web.put(f"{PREFIX}/settings", put_settings),
        web.get(f"{PREFIX}/policies", get_policies, allow_head=False),
        web.put(f"{PREFIX}/policies", put_policies),
        web.get(f"{PREFIX}/policies/denials", get_denials, allow_head=False),
        web.delete(f"{PREFIX}/policies/denials", delete_denials),
        web.get(f"{PREFIX}/jobRuns/{{run_id}}/effective", get_effective_configuration, allow_head=False),
    ]
