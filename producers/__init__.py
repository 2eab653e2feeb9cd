"""Producers: push tweets, test strings, device telemetry or a replayed file into Event Hubs.

From a notebook cell or a script::

    from conf import load_settings
    from producers import send_events
    from producers.sources.telemetry import telemetry

    stats = send_events(load_settings("local"), telemetry(devices=10), count=1000)
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from contextlib import ExitStack
from typing import TYPE_CHECKING, Literal

from .client import producer_client
from .events import Event
from .sender import BatchLoop, LoopOptions, OversizeEvent, Progress, Sender, SendStats

if TYPE_CHECKING:
    from conf import Settings


def send_events(
    settings: Settings,
    events: Iterable[Event],
    *,
    count: int | None = None,
    duration_s: float | None = None,
    partition_id: str | None = None,
    stop: threading.Event | None = None,
    progress: Progress | None = None,
    engine: Literal["sdk", "hubstream"] = "sdk",
) -> SendStats:
    """Send `events` to the settings' event hub with the settings' producer options.

    `engine="hubstream"` sends with hubstream's own client (`producers/engine.py`): the same batches,
    several in flight, for load tests faster than the SDK goes; no retries.
    """
    options = settings.producer
    loop_options = LoopOptions(
        rate=options.rate,
        linger_s=options.linger_s,
        on_oversize=options.on_oversize,
        partition_id=partition_id,
        progress=progress,
    )
    with ExitStack() as clients:
        sender: BatchLoop
        if engine == "hubstream":
            from hubclient.connection import Endpoint

            from .engine import HubstreamSender

            hub = settings.eventhub
            # The profile's connection settings, read as the SDK engine's client reads them; trusted
            # without connection_verify: certifi's bundle, as the SDK's (not the system's CAs).
            import certifi

            endpoint = Endpoint.connect_to(
                hub.connection_string, hub.fully_qualified_namespace, hub.name,
                websocket=hub.transport == "websocket", ca_file=hub.connection_verify or certifi.where(),
                ca_option="connection_verify ([eventhub] in the profile, or --connection-verify)",
                custom_endpoint_address=hub.custom_endpoint_address,
            )  # fmt: skip
            sender = HubstreamSender(endpoint, loop_options)
        else:
            client = clients.enter_context(producer_client(settings.eventhub, options))
            sender = Sender(client, loop_options)
        return sender.send(events, count=count, duration_s=duration_s, stop=stop)


__all__ = ["Event", "LoopOptions", "OversizeEvent", "SendStats", "Sender", "producer_client", "send_events"]
