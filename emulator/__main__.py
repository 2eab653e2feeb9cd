"""`python -m emulator`: serve a local Event Hubs namespace over AMQP 1.0."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import signal
import sys
from pathlib import Path

from .config import ConfigError, load_config
from .endpoint import connection_string, wait_until_ready
from .health import DEFAULT_HEALTH_PORT, HealthProbe
from .namespace import Namespace
from .server import EmulatorServer
from .storage import DiskStore, FsyncPolicy, MemoryStore, Retention, Store

log = logging.getLogger("emulator")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m emulator",
        description="A local Azure Event Hubs namespace; the azure-eventhub SDK uses it as the service.",
        epilog="Stop it with Ctrl-C (or SIGTERM): events already acknowledged are kept in --data-dir.",
    )
    parser.add_argument(
        "--config", type=Path, help="namespace TOML file (default: hubs 'tweets' and 'telemetry')"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=5672, help="AMQP port, 0 for any free one (default: %(default)s)"
    )
    parser.add_argument("--data-dir", type=Path, help="keep events on disk here (default: in memory only)")
    parser.add_argument(
        "--fsync",
        choices=[p.value for p in FsyncPolicy],
        default=FsyncPolicy.INTERVAL.value,
        help="with --data-dir: 'always' fsyncs before acknowledging (survives power loss); 'interval' "
        "(default) "
        "and 'never' survive a killed emulator but not a crashed OS",
    )
    parser.add_argument(
        "--entra-id",
        action="store_true",
        help="also accept Microsoft Entra ID (JWT) tokens, without checking their signature: for local "
        "testing of passwordless clients only (same as entra_id = true in --config)",
    )
    parser.add_argument(
        "--health-port",
        type=int,
        default=DEFAULT_HEALTH_PORT,
        help="port of the health probe GET /health, as Microsoft's emulator serves it (default: "
        "%(default)s; 0 for any free one, -1 for none)",
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not serve: wait until an emulator answers at --host/--port, exit 0 if it does, 1 if not",
    )
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="with --check: seconds to wait (default: 30)"
    )
    return parser


def make_store(args: argparse.Namespace, retention: dict[str, Retention]) -> Store:
    # A hub removed from the config may still have data on disk: it keeps no retention of its own.
    def retention_of(hub: str) -> Retention:
        return retention.get(hub, Retention())

    if args.data_dir is None:
        return MemoryStore(retention=retention_of)
    return DiskStore(args.data_dir, retention=retention_of, fsync=FsyncPolicy(args.fsync))


async def serve(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.entra_id:
        config = dataclasses.replace(config, entra_id=True)
    retention = {
        hub.name: Retention(int(hub.retention_hours * 3600 * 1000), hub.max_retention_bytes)
        for hub in config.hubs.values()
    }
    try:
        store = make_store(args, retention)
    except (OSError, ValueError) as exc:
        print(f"error: cannot open --data-dir {args.data_dir}: {exc}", file=sys.stderr)
        return 2
    server = EmulatorServer(
        Namespace(config, store), args.host, args.port, retention_interval_s=config.retention_check_seconds
    )
    try:
        await server.start()
    except OSError as exc:
        store.close()
        print(f"error: cannot listen on {args.host}:{args.port}: {exc} (try another --port)", file=sys.stderr)
        return 2
    health = await start_health_probe(args.host, args.health_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    host = "localhost" if args.host in ("127.0.0.1", "0.0.0.0", "::1", "::") else args.host
    hubs = ", ".join(f"{h.name} ({h.partition_count} partitions)" for h in config.hubs.values())
    where = f"events on disk in {args.data_dir}" if args.data_dir else "events in memory"
    print(f"hubstream emulator listening on {args.host}:{server.port}: {hubs}; {where}", flush=True)
    print(f"Connection string: {connection_string(config, server.port, host)}", flush=True)
    if config.entra_id:
        print(
            "Entra ID tokens accepted WITHOUT signature checks (--entra-id): for local testing only",
            flush=True,
        )
    if health is not None:
        print(f"Health probe: http://{host}:{health.port}/health", flush=True)
    await stop.wait()
    log.info("stopping")
    if health is not None:
        await health.stop()
    await server.stop()
    print("emulator stopped", flush=True)
    return 0


async def start_health_probe(host: str, port: int) -> HealthProbe | None:
    """The probe on `port`; a port already taken is a warning, not a failure: AMQP is what matters."""
    if port < 0:
        return None
    probe = HealthProbe(host, port, healthy=lambda: True)
    try:
        await probe.start()
    except OSError as exc:
        log.warning("no health probe: cannot listen on %s:%d: %s (choose --health-port)", host, port, exc)
        return None
    return probe


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.check:
        return 0 if wait_until_ready(args.host, args.port or 5672, args.timeout) else 1
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
