"""``ocids-emulator init`` / ``serve`` / ``resource-principal``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

from ocids_emulator.api.httpio import EMULATOR_KEY
from ocids_emulator.api.identity.proxymux import parse_address, start_proxymux
from ocids_emulator.api.identity.resource_principal import DEFAULT_RESOURCE_TYPE, write_resource_principal
from ocids_emulator.config import ENDPOINT_FILE, init_data_dir, is_initialized, read_ids
from ocids_emulator.core.catalog import CatalogError
from ocids_emulator.core.emulator import Settings, Simulation
from ocids_emulator.core.prices import (
    CHART_TABLE,
    PriceTableError,
    default_price_table_path,
    load_price_table,
)
from ocids_emulator.core.prices import ENV_VAR as PRICE_TABLE_ENV
from ocids_emulator.faults.denials import parse_deny_flag
from ocids_emulator.faults.spec import parse_error_flag
from ocids_emulator.security.policies import PolicyError
from ocids_emulator.security.session_tokens import DEFAULT_LIFETIME_S
from ocids_emulator.server import TOKENS_KEY, build_app

USAGE_DELAY_ENV = "OCIDS_EMULATOR_USAGE_DELAY_SECONDS"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ocids-emulator", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    init = sub.add_parser(
        "init", help="create a tenancy (OCI config, API key pair, ids.env) in a data folder"
    )
    init.add_argument("--data-dir", required=True, type=Path)
    init.add_argument("--region", default="us-ashburn-1")
    init.add_argument("--if-missing", action="store_true", help="keep an existing tenancy instead of failing")
    serve = sub.add_parser("serve", help="serve the tenancy of a data folder")
    serve.add_argument("--data-dir", required=True, type=Path)
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    serve.add_argument("--port", type=int, default=12000, help="0 picks a free port (see DATA_DIR/endpoint)")
    serve.add_argument(
        "--simulated",
        metavar="SECONDS[:EXIT]",
        help="finish every run after SECONDS with EXIT, start no process; LO..HI[:EXIT] draws each"
        " run's duration from LO to HI (seeded by --simulated-seed and the run's ordinal)",
    )
    serve.add_argument("--simulated-seed", type=int, default=0, help="seed of --simulated LO..HI draws")
    serve.add_argument("--fault", action="append", default=[], metavar="OP=STATUS:RATE[:COUNT]")
    serve.add_argument(
        "--deny",
        action="append",
        default=[],
        metavar="OP[:COUNT]",
        help="answer OP with OCI's IAM denial (404 NotAuthorizedOrNotFound), COUNT times or always",
    )
    serve.add_argument("--faults-json", help="a full faults spec (see README)")
    serve.add_argument("--latency-ms", type=float, default=0.0, help="latency added to every OCI call")
    serve.add_argument(
        "--max-active-runs", type=int, help="answer LimitExceeded beyond this many active runs"
    )
    serve.add_argument(
        "--minute-seconds", type=float, default=60.0, help="seconds per maximumRuntimeInMinutes unit"
    )
    serve.add_argument("--provisioning-seconds", type=float, default=0.1)
    serve.add_argument(
        "--max-body-mb", type=int, default=512, help="largest accepted request (artifact) body"
    )
    serve.add_argument(
        "--proxymux",
        type=parse_address,
        metavar="HOST:PORT",
        help="serve OKE workload identity's token exchange over TLS here (the SDK dials port 12250)",
    )
    serve.add_argument(
        "--kubeconfig", type=Path, help="the API server that reviews ServiceAccount tokens (with --proxymux)"
    )
    serve.add_argument(
        "--session-token-seconds",
        type=int,
        default=DEFAULT_LIFETIME_S,
        help="lifetime of the security tokens issued (workload identity, instance principals)",
    )
    serve.add_argument(
        "--price-table",
        type=Path,
        help="prices.yaml the Usage API bills runs with (default: $OCIDS_EMULATOR_PRICE_TABLE, else the"
        " chart's charts/ocids-operator/prices/prices.yaml when present, else none: amounts null)",
    )
    serve.add_argument(
        "--usage-delay-seconds",
        type=float,
        default=None,
        help=f"usage shows in the Usage API this long after it happened (default: ${USAGE_DELAY_ENV} or 0)",
    )
    serve.add_argument(
        "--notifications-ca-file",
        type=Path,
        help="CA bundle HTTPS subscribers' certificates are verified against (default: the system's)",
    )
    serve.add_argument(
        "--notifications-retry-seconds",
        type=float,
        default=7200.0,
        help="how long a Notifications delivery is retried before it is dropped (OCI: 2 h)",
    )
    serve.add_argument(
        "--notifications-retry-base-seconds",
        type=float,
        default=1.0,
        help="first retry wait, doubling up to 32x (OCI: 60, i.e. 1, 2, 4 ... 32 min)",
    )
    serve.add_argument(
        "--streaming-rate-limit",
        type=float,
        default=0.0,
        metavar="CALLS_PER_SECOND",
        help="answer GetMessages 429 beyond this many calls a second per stream partition (OCI: 5);"
        " default 0: no limit",
    )
    serve.add_argument("--log-level", default="INFO")
    rp = sub.add_parser(
        "resource-principal",
        help="write a resource principal v2.2 session token and private key; print the SDK's env",
    )
    rp.add_argument("--data-dir", required=True, type=Path)
    rp.add_argument("--out-dir", type=Path, help="default: DATA_DIR/resource-principal")
    rp.add_argument("--resource-id", help="default: a new OCID of --resource-type")
    rp.add_argument("--resource-type", default=DEFAULT_RESOURCE_TYPE)
    rp.add_argument("--compartment-id", help="default: the tenancy's first compartment")
    rp.add_argument("--seconds", type=int, default=DEFAULT_LIFETIME_S, help="token lifetime")
    return parser


def _faults(args: argparse.Namespace) -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(args.faults_json) if args.faults_json else {}
    spec.setdefault("errors", [])
    spec["errors"] += [parse_error_flag(value) for value in args.fault]
    if args.deny:
        spec["denials"] = [*spec.get("denials", []), *(parse_deny_flag(value) for value in args.deny)]
    if args.latency_ms:
        spec.setdefault("latencyMs", {})["*"] = args.latency_ms
    if args.max_active_runs is not None:
        spec["maxActiveRuns"] = args.max_active_runs
    return spec


def _price_table(flag: Path | None) -> Path | None:
    """A table named by the flag or env must load (else serve exits naming the row and field); the
    chart's, picked up implicitly, is skipped with a warning when broken, so a half-edited chart file
    never stops an emulator that did not ask for it."""
    path = default_price_table_path(flag, dict(os.environ))
    if path != CHART_TABLE or flag is not None or os.environ.get(PRICE_TABLE_ENV):
        return path
    try:
        load_price_table(path)
    except PriceTableError as exc:
        logging.getLogger("ocids_emulator").warning("ignoring the chart's price table: %s", exc)
        return None
    return path


def _usage_delay(flag: float | None) -> float:
    raw = os.environ.get(USAGE_DELAY_ENV)
    try:
        value = flag if flag is not None else float(raw) if raw else 0.0
    except ValueError:
        raise SystemExit(
            f"ocids-emulator: {USAGE_DELAY_ENV} must be a number of seconds, not {raw!r}"
        ) from None
    if value < 0:
        raise SystemExit("ocids-emulator: --usage-delay-seconds must be >= 0")
    return value


def _notifications_ca(path: Path | None) -> Path | None:
    if path is None:
        return None
    if not path.is_file():
        raise SystemExit(f"ocids-emulator: --notifications-ca-file {path}: no such file")
    return path.resolve()


def _non_negative(value: float, flag: str) -> float:
    if value < 0:
        raise SystemExit(f"ocids-emulator: {flag} must be >= 0")
    return value


def _simulation(flag: str | None) -> Simulation | None:
    if not flag:
        return None
    try:
        return Simulation.parse(flag)
    except ValueError as exc:
        raise SystemExit(
            f"ocids-emulator: --simulated expects SECONDS[:EXIT] or LO..HI[:EXIT]; {exc}"
        ) from None


async def _serve(args: argparse.Namespace) -> None:
    data_dir: Path = args.data_dir.resolve()
    settings = Settings(
        data_dir=data_dir,
        simulated=_simulation(args.simulated),
        simulated_seed=args.simulated_seed,
        minute_seconds=args.minute_seconds,
        provisioning_seconds=args.provisioning_seconds,
        max_body_bytes=args.max_body_mb * 1024 * 1024,
        session_token_seconds=args.session_token_seconds,
        price_table=_price_table(args.price_table),
        usage_delay_seconds=_usage_delay(args.usage_delay_seconds),
        notifications_ca_file=_notifications_ca(args.notifications_ca_file),
        notifications_retry_seconds=_non_negative(
            args.notifications_retry_seconds, "--notifications-retry-seconds"
        ),
        streaming_rate_limit=_non_negative(args.streaming_rate_limit, "--streaming-rate-limit"),
        notifications_retry_base_seconds=_non_negative(
            args.notifications_retry_base_seconds, "--notifications-retry-base-seconds"
        ),
    )
    # One server per data dir: two would interleave writes to the same SQLite file and run folders.
    lock = (data_dir / "serve.lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit(f"another ocids-emulator is already serving {data_dir}") from None
    try:
        app = build_app(settings, _faults(args))
    except (PolicyError, CatalogError) as exc:
        raise SystemExit(f"ocids-emulator: {data_dir}/tenancy.json: {exc}") from None
    except PriceTableError as exc:
        raise SystemExit(f"ocids-emulator: price table {exc}") from None
    # auto_decompress=False: OCI keeps a body as sent (an object put with Content-Encoding: gzip is
    # stored gzipped and served so); aiohttp would otherwise decode request bodies.
    runner = web.AppRunner(app, access_log=None, handle_signals=False, auto_decompress=False)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port, reuse_address=True)
    await site.start()
    proxymux = None
    if args.proxymux:
        emu = app[EMULATOR_KEY]
        proxymux = await start_proxymux(
            args.proxymux, args.kubeconfig.resolve(), data_dir, emu.tenancy, app[TOKENS_KEY]
        )
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        logging.getLogger("ocids_emulator").warning(
            "binding %s: the emulator's admin endpoint (/_emulator) is unauthenticated and artifacts run"
            " as this user; expose it only on networks you trust",
            args.host,
        )
    port = runner.addresses[0][1]
    endpoint = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '') else args.host}:{port}"
    (data_dir / ENDPOINT_FILE).write_text(endpoint + "\n")
    logging.getLogger("ocids_emulator").info("ocids-emulator serving %s (data in %s)", endpoint, data_dir)
    print(f"ocids-emulator listening on {endpoint}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        with contextlib.suppress(FileNotFoundError):
            (data_dir / ENDPOINT_FILE).unlink()
        if proxymux is not None:
            await proxymux.cleanup()
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "init":
        if is_initialized(args.data_dir):
            if not args.if_missing:
                print(
                    f"{args.data_dir} already holds a tenancy (use --if-missing to keep it)", file=sys.stderr
                )
                return 1
            ids = read_ids(args.data_dir)
        else:
            ids = init_data_dir(args.data_dir, args.region)
        print("".join(f"{k}={v}\n" for k, v in ids.items()), end="")
        return 0
    if args.command == "resource-principal":
        if not is_initialized(args.data_dir):
            print(f"{args.data_dir} holds no tenancy", file=sys.stderr)
            return 2
        env = write_resource_principal(
            args.data_dir.resolve(),
            args.out_dir,
            resource_id=args.resource_id,
            resource_type=args.resource_type,
            compartment_id=args.compartment_id,
            seconds=args.seconds,
        )
        print("".join(f"{k}={v}\n" for k, v in env.items()), end="")
        return 0
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.proxymux and not args.kubeconfig:
        print("--proxymux needs --kubeconfig (the API server to review tokens)", file=sys.stderr)
        return 2
    if not is_initialized(args.data_dir):
        print(
            f"{args.data_dir} holds no tenancy; run `ocids-emulator init --data-dir {args.data_dir}` first",
            file=sys.stderr,
        )
        return 2
    asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
