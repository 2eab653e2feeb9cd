"""How clients reach a running emulator: its connection string, and a readiness check."""

from __future__ import annotations

import socket
import time

from amqp10.frames import SASL_HEADER

from .config import NamespaceConfig


def connection_string(
    config: NamespaceConfig, port: int, host: str = "localhost", hub: str | None = None
) -> str:
    """The development connection string: the SDK connects without TLS when it sees UseDevelopmentEmulator."""
    key_name, key = next(iter(config.keys.items()))
    entity = f";EntityPath={hub}" if hub else ""
    return (
        f"Endpoint=sb://{host}:{port};SharedAccessKeyName={key_name};SharedAccessKey={key}"
        f"{entity};UseDevelopmentEmulator=true"
    )


def is_ready(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when an AMQP server answers a SASL protocol header at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(SASL_HEADER)
            return sock.recv(8) == SASL_HEADER
    except OSError:
        return False


def wait_until_ready(host: str, port: int, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_ready(host, port):
            return True
        time.sleep(0.1)
    return False
