"""What a job run really gets: the job's settings with the run's override blocks applied.

Stored in the run's meta (``GET /_emulator/jobRuns/{id}/effective``) and read by the executor.
"""

from __future__ import annotations

from typing import Any

from ocids_emulator.api.data_science.validation_blocks import MAX_ENV_CHARS, env_chars
from ocids_emulator.api.data_science.validation_nodes import node_groups
from ocids_emulator.core.emulator import Emulator, Simulation
from ocids_emulator.core.errors import invalid

SIMULATE_VAR = "OCIDS_EMULATOR_SIMULATE"


def _merged_configuration(base: dict[str, Any] | None, override: dict[str, Any] | None) -> dict[str, Any]:
    """A job configuration with a run's override on top: env merged (run wins), other fields replaced."""
    base = dict(base or {"jobType": "DEFAULT"})
    override = override or {}
    env = {**(base.get("environmentVariables") or {}), **(override.get("environmentVariables") or {})}
    changes = {k: v for k, v in override.items() if v is not None}
    return {**base, **changes, "environmentVariables": env}


def effective_configuration(job: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    override = body.get("jobConfigurationOverrideDetails")
    environment = body.get("jobEnvironmentConfigurationOverrideDetails") or job.get(
        "jobEnvironmentConfigurationDetails"
    )
    mounts = body.get("jobStorageMountConfigurationOverrideDetailsList")
    effective = {
        "jobConfigurationDetails": _merged_configuration(job.get("jobConfigurationDetails"), override),
        "jobInfrastructureConfigurationDetails": body.get("jobInfrastructureConfigurationOverrideDetails")
        or job.get("jobInfrastructureConfigurationDetails"),
        "jobEnvironmentConfigurationDetails": environment,
        "jobLogConfigurationDetails": body.get("jobLogConfigurationOverrideDetails")
        or job.get("jobLogConfigurationDetails"),
        # A run's list, even an empty one, replaces the job's mounts.
        "jobStorageMountConfigurationDetailsList": list(
            mounts if mounts is not None else job.get("jobStorageMountConfigurationDetailsList") or []
        ),
    }
    node = body.get("jobNodeConfigurationOverrideDetails") or job.get("jobNodeConfigurationDetails")
    if node is not None:
        groups = []
        for group in node_groups(node):
            groups.append(
                {
                    **group,
                    "jobConfigurationDetails": _merged_configuration(
                        group.get("jobConfigurationDetails"), override
                    ),
                    "jobEnvironmentConfigurationDetails": body.get(
                        "jobEnvironmentConfigurationOverrideDetails"
                    )
                    or group.get("jobEnvironmentConfigurationDetails")
                    or job.get("jobEnvironmentConfigurationDetails"),
                }
            )
        effective["jobNodeConfigurationDetails"] = {**node, "jobNodeGroupConfigurationDetailsList": groups}
    return effective


def check_env_size(effective: dict[str, Any]) -> None:
    configs = [("", effective["jobConfigurationDetails"])]
    for group in node_groups(effective.get("jobNodeConfigurationDetails")):
        configs.append((f" (node group {group['name']})", group["jobConfigurationDetails"]))
    for where, config in configs:
        if env_chars(config["environmentVariables"]) > MAX_ENV_CHARS:
            raise invalid(
                f"environmentVariables of the job and the run{where} exceed {MAX_ENV_CHARS} characters"
                " together"
            )


class DrawKeys:
    """Chooser keys for one run's ranged simulations: the run's ordinal is taken from the emulator
    once, on the first draw, and each node group gets its own key so groups differ."""

    def __init__(self, emu: Emulator) -> None:
        self._emu = emu
        self._run: str | None = None

    def key(self, group: str | None) -> str:
        if self._run is None:
            self._run = self._emu.simulation_draw_key()
        return self._run if group is None else f"{self._run}:{group}"


def choose_simulation(
    emu: Emulator, config: dict[str, Any], environment: Any, draws: DrawKeys, group: str | None = None
) -> Simulation | None:
    """How a run (or one node group of it) executes: simulated, or None for a real process."""
    raw = config["environmentVariables"].get(SIMULATE_VAR)
    if raw is not None:
        try:
            chosen = Simulation.parse(raw)
        except ValueError as exc:
            raise invalid(
                f"environmentVariables.{SIMULATE_VAR} must be DURATION_SECONDS[:EXIT_CODE]"
                f" or LO..HI[:EXIT_CODE]: {exc}"
            ) from None
        return _drawn(chosen, draws, group)
    if emu.settings.simulated is not None:
        return _drawn(emu.settings.simulated, draws, group)
    if environment is not None:
        return emu.settings.container_default
    return None


def _drawn(simulation: Simulation, draws: DrawKeys, group: str | None) -> Simulation:
    return simulation if simulation.max_duration_s is None else simulation.for_run(draws.key(group))


def simulation_doc(simulation: Simulation | None) -> dict[str, Any] | None:
    if simulation is None:
        return None
    return {"durationSeconds": simulation.duration_s, "exitCode": simulation.exit_code}


def simulations(emu: Emulator, effective: dict[str, Any]) -> dict[str, Any]:
    """The run's meta entries saying what is simulated: the run, and for multi-node each group."""
    node = effective.get("jobNodeConfigurationDetails")
    draws = DrawKeys(emu)
    if node is None:
        single = choose_simulation(
            emu, effective["jobConfigurationDetails"], effective["jobEnvironmentConfigurationDetails"], draws
        )
        return {"simulation": simulation_doc(single)}
    per_group = {
        g["name"]: simulation_doc(
            choose_simulation(
                emu, g["jobConfigurationDetails"], g["jobEnvironmentConfigurationDetails"], draws, g["name"]
            )
        )
        for g in node_groups(node)
    }
    return {"simulation": None, "groupSimulations": per_group}
