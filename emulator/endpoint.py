"""How clients reach a running emulator: its connection string, and a readiness check."""

from __future__ import annotations

import socket
import time

from amqp10.frames import SASL_HEADER

from .config import DEFAULT_KEY, NamespaceConfig

REDACTED = "<redacted>"  # what the startup line shows for a key that is not the development key


def connection_string(
    config: NamespaceConfig, port: int, host: str = "localhost", hub: str | None = None
) -> str:
    """The development connection string: the SDK connects without TLS when it sees UseDevelopmentEmulator.

    It names the policy with the well-known development key if there is one; any other key is a secret
    of the user's config and is written `<redacted>` (the user has it), never printed. With no policy
    at all (Entra ID only) it has no key.
    """
    entity = f";EntityPath={hub}" if hub else ""
    policies = list(config.namespace_policies().values())
    chosen = next((p for p in policies if DEFAULT_KEY in p.keys), policies[0] if policies else None)
    if chosen is None:
        return f"Endpoint=sb://{host}:{port}{entity};UseDevelopmentEmulator=true"
    key = DEFAULT_KEY if DEFAULT_KEY in chosen.keys else REDACTED
    return (
        f"Endpoint=sb://{host}:{port};SharedAccessKeyName={chosen.name};SharedAccessKey={key}"
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
