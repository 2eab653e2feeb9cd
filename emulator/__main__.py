"""`python -m emulator`: serve a local Event Hubs namespace over AMQP 1.0 (plain, TLS and WebSockets).

`python -m emulator ca` shows the local certificate authority and how each kind of client trusts it.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import errno
import logging
import os
import signal
import ssl
import sys
from pathlib import Path
from typing import Any

from eventhubs.links import AMQPS_PORT, WEBSOCKET_PATH, WEBSOCKET_PORT

from .capture import CaptureService, DiskPositions, MemoryPositions
from .capture.destinations import DestinationError, build_destination
from .config import ConfigError, NamespaceConfig, load_config
from .endpoint import connection_string, wait_until_ready
from .health import DEFAULT_HEALTH_PORT, HealthProbe
from .namespace import Namespace
from .server import EmulatorServer, ListenError
from .storage import DiskStore, FsyncPolicy, MemoryStore, Retention, Store
from .tls import server_context

log = logging.getLogger("emulator")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m emulator",
        description="A local Azure Event Hubs namespace; the azure-eventhub SDK uses it as the service.",
        epilog="Stop it with Ctrl-C (or SIGTERM): events already acknowledged are kept in --data-dir. "
        "`python -m emulator ca` shows the local CA and how clients trust it.",
    )
    parser.add_argument(
        "--config", type=Path, help="namespace TOML file (default: hubs 'tweets' and 'telemetry')"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=5672, help="AMQP port, 0 for any free one (default: %(default)s)"
    )
    parser.add_argument(
        "--tls-port",
        type=int,
        default=None,
        help="AMQP over TLS port, as clients built from a host name dial it; 0 for any free one "
        f"(default: {AMQPS_PORT}, left out with a warning when another process holds it)",
    )
    parser.add_argument(
        "--ws-port",
        type=int,
        default=None,
        help=f"AMQP over WebSockets (wss://<host>:<port>{WEBSOCKET_PATH}) port; 0 for any free one "
        f"(default: {WEBSOCKET_PORT}, left out with a warning where this process may not bind it)",
    )
    parser.add_argument(
        "--no-tls", action="store_true", help="serve plain AMQP only: no TLS port, no WebSockets"
    )
    parser.add_argument("--no-websocket", action="store_true", help="do not serve AMQP over WebSockets")
    parser.add_argument(
        "--tls-cert", type=Path, help="PEM certificate (chain) to serve instead of one from the local CA"
    )
    parser.add_argument("--tls-key", type=Path, help="PEM private key of --tls-cert")
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
        destinations = capture_destinations(config)
    except DestinationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        store = make_store(args, retention)
    except (OSError, ValueError) as exc:
        print(f"error: cannot open --data-dir {args.data_dir}: {exc}", file=sys.stderr)
        return 2
    positions = MemoryPositions() if args.data_dir is None else DiskPositions(args.data_dir)
    context, ca_file = None, None
    if not args.no_tls:
        try:
            context, ca_file = server_context(args.host, args.tls_cert, args.tls_key)
        except (OSError, ValueError, ssl.SSLError) as exc:
            store.close()
            print(f"error: cannot set up TLS: {exc}", file=sys.stderr)
            return 2
    # A default port that is taken (a second emulator) or forbidden (443 without root) is left out with
    # a note saying what to do; a port asked for by flag must be had.
    tls_default, ws_default = args.tls_port is None, args.ws_port is None
    tls_port = None if args.no_tls else (AMQPS_PORT if tls_default else args.tls_port)
    ws_port = None if args.no_tls or args.no_websocket else (WEBSOCKET_PORT if ws_default else args.ws_port)
    notes: list[str] = []
    while True:
        namespace = Namespace(config, store)
        server = EmulatorServer(
            namespace,
            args.host,
            args.port,
            ssl_context=context,
            tls_port=tls_port,
            ws_port=ws_port,
            retention_interval_s=config.retention_check_seconds,
            # Even with no hub captured: it forgets the positions of hubs whose Capture was turned off.
            capture=CaptureService(namespace, positions, destinations),
        )
        try:
            await server.start()
            break
        except ListenError as exc:
            refused = exc.errno in (errno.EACCES, errno.EADDRINUSE)
            if exc.which == "websocket" and ws_default and refused:
                notes.append(_websocket_advice(exc))
                ws_port = None  # serve the rest; say what to do
                continue
            if exc.which == "amqps" and tls_default and refused:
                notes.append(
                    f"TLS: not served: port {exc.port} is taken ({exc.cause.strerror}; another emulator?). "
                    'Give this one --tls-port N and clients custom_endpoint_address="sb://localhost:N".'
                )
                tls_port = None
                continue
            store.close()
            flag = {"amqp": "--port", "amqps": "--tls-port (or --no-tls)", "websocket": "--ws-port"}[
                exc.which
            ]
            print(f"error: {exc} (try another {flag})", file=sys.stderr)
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
    if server.tls_port is not None:
        trusted = f"CA: {ca_file}" if ca_file else f"certificate: {args.tls_cert}"
        print(
            f"TLS: amqps://{host}:{server.tls_port} ({trusted}; `python -m emulator ca` shows how "
            "clients trust it)",
            flush=True,
        )
    if server.ws_port is not None:
        print(
            f"WebSockets: wss://{host}:{server.ws_port}{WEBSOCKET_PATH} (subprotocol AMQPWSB10)", flush=True
        )
    for note in notes:
        print(note, flush=True)
    for name, destination in destinations.items():
        print(capture_line(config, name, destination.description), flush=True)
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


def capture_destinations(config: NamespaceConfig) -> dict[str, Any]:
    """Each captured hub's destination; a blob one reads its connection string from the environment now."""
    return {
        hub.name: build_destination(hub.name, hub.capture, os.environ)
        for hub in config.hubs.values()
        if hub.capture.enabled
    }


def capture_line(config: NamespaceConfig, hub: str, where: str) -> str:
    capture = config.hubs[hub].capture
    mib = capture.size_window_bytes / 1048576
    size = f"{mib:g} MiB" if mib >= 1 else f"{capture.size_window_bytes} bytes"
    note = " (local testing windows)" if capture.local_testing else ""
    return (
        f"Capture: hub {hub} -> {where}: a file per partition every {capture.time_window_seconds} s or "
        f"{size}{note}, {capture.encoding}"
    )


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


def _websocket_advice(exc: ListenError) -> str:
    why = (
        "this process may not bind ports below 1024 (run as root, or grant CAP_NET_BIND_SERVICE)"
        if exc.errno == errno.EACCES
        else "something else holds it"
    )
    return (
        f"WebSockets: not served: port {exc.port} is refused ({why}). Start with e.g. --ws-port 8443 and "
        'point the SDK at it: transport_type=TransportType.AmqpOverWebsocket, custom_endpoint_address="sb://'
        'localhost:8443"; or --no-websocket to silence this.'
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["ca"]:
        from . import trust

        return trust.main(argv[1:])
    args = build_parser().parse_args(argv)
    if (args.tls_cert is None) != (args.tls_key is None):
        print("error: give --tls-cert and --tls-key together", file=sys.stderr)
        return 2
    if args.check:
        return 0 if wait_until_ready(args.host, args.port or 5672, args.timeout) else 1
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
