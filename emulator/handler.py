"""One client connection's Event Hubs behaviour, on top of the sans-I/O AMQP connection.

The handler reads the connection's events and routes them: links to `$cbs`/`$management` to the node
service (`nodes.py`), sending links to a publisher (`publishers.py`), receiving links to a consumer
(`consumers.py`). It does no I/O: after any call the transport sends `connection.data_to_send()`;
`wake` asks it to do so when events arrive from another connection's producer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from amqp10 import events as amqp
from amqp10.connection import SENDER, Connection, Link, LinkState
from amqp10.errors import DecodeError
from amqp10.performatives import Error
from eventhubs import nodes
from eventhubs.errors import EventHubsError, ResourceLimitError
from eventhubs.links import EPOCH, RECEIVER_NAME, entity_path, parse_receiver_address

from .authorization import Authorization
from .config import LISTEN, SEND
from .consumers import Consumer, epoch_of, start_sequence, wants_runtime_metrics
from .namespace import Namespace, Receiver
from .nodes import NodeService, Replies, Requests
from .publishers import Publisher

log = logging.getLogger("emulator.connection")


def consumer_entity(hub: str, consumer_group: str, partition_id: str) -> str:
    """The entity a reader's token must cover: the partition it reads, as the service checks.

    A token for the namespace, the hub or the consumer group covers it (azure-eventhub's audience names
    the hub), and so does one for the partition itself, the audience the Java client (azure-eventhubs
    3.x, under the Scala connector) puts for each receiver: `amqp://<host>/<hub>/ConsumerGroups/<group>/
    Partitions/<id>`.
    """
    return f"{hub}/consumergroups/{consumer_group}/partitions/{partition_id}"


class Handler:
    def __init__(
        self,
        namespace: Namespace,
        connection: Connection,
        *,
        wake: Callable[[], None] = lambda: None,
        peer: str = "?",
        clock: Callable[[], float] = time.time,
        pump_budget: int | None = None,
    ) -> None:
        self.namespace = namespace
        self.connection = connection
        self.wake = wake
        self.peer = peer
        self.clock = clock
        self.authorization = Authorization(namespace.config, clock)
        self.nodes = NodeService(namespace, self.authorization, peer)
        self._consumers: list[Link] = []
        # Backpressure: while the transport's write buffer is above its high-water mark it sets
        # `writable` False, and consumers wait in `_backlog` instead of sending. With a `pump_budget` one
        # pump sends at most that many bytes per link; what is left waits there too, for `pump_backlog()`,
        # which the transport calls once it has written what went before.
        self.writable = True
        self.pump_budget = pump_budget
        self._backlog: dict[Link, None] = {}

    def receive_data(self, data: bytes, budget_s: float | None = None) -> bool:
        """Feed bytes from the peer and act on the events they complete. ProtocolErrors propagate.

        With `budget_s`, it stops after that many seconds: True means events may be left, for
        `process()` on a later turn of the event loop, so that one connection's burst (thousands of
        attaches in one read) does not keep the others waiting.
        """
        self.connection.receive_data(data, now=time.monotonic())
        return self.process(budget_s)

    def process(self, budget_s: float | None = None) -> bool:
        """Act on the events the bytes received so far complete; see `receive_data`."""
        deadline = None if budget_s is None else time.monotonic() + budget_s
        while True:
            event = self.connection.next_event()
            if not isinstance(event, amqp.Event):  # NEED_DATA
                return False
            self._on_event(event)
            if deadline is not None and time.monotonic() >= deadline:
                return True

    def check_tokens(self) -> None:
        """Detach every entity link whose token expired without a fresh one for it, as the service does.

        The transport calls this on its timer (once a second); the client must have put a new token to
        `$cbs` before the old one expired.
        """
        for link in self.connection_links():
            needed = self._needs(link)
            if needed is None or self.authorization.covers(*needed):
                continue
            try:
                self.authorization.require(*needed)
            except EventHubsError as exc:
                log.info("%s: detaching %s: %s", self.peer, link.address, exc.description)
                if isinstance(link.context, Consumer):
                    self._drop_consumer(link)
                self.connection.detach(link, Error(exc.condition, exc.description))
                self.wake()

    @staticmethod
    def _needs(link: Link) -> tuple[str, str] | None:
        """(entity path, right) an entity link needs; None for the request/response nodes' links."""
        ctx = link.context
        if isinstance(ctx, Publisher):
            return ctx.entity, SEND
        if isinstance(ctx, Consumer):
            receiver = ctx.receiver
            return consumer_entity(ctx.hub.name, receiver.consumer_group, receiver.partition_id), LISTEN
        return None

    def connection_lost(self) -> None:
        for link in list(self._consumers):
            self._drop_consumer(link)

    # ---- dispatch ---------------------------------------------------------------------------------------

    def _on_event(self, event: amqp.Event) -> None:
        if isinstance(event, amqp.MessageReceived):
            self._on_message(event)
        elif isinstance(event, amqp.CreditGranted):
            self._on_credit(event.link)
        elif isinstance(event, amqp.LinkAttaching):
            self._on_attach(event.link)
        elif isinstance(event, amqp.LinkDetached):
            if isinstance(event.link.context, Consumer):
                self._drop_consumer(event.link)
        elif isinstance(event, amqp.ConnectionOpened):
            log.info("%s opened connection (container %s)", self.peer, event.container_id)
        elif isinstance(event, amqp.ConnectionClosed):
            self.connection_lost()

    def _on_attach(self, link: Link) -> None:
        address = entity_path(link.address or "")
        try:
            if address in nodes.NODES:
                # Requests are bounded like events: a multi-frame request is reassembled up to this.
                limit = None if link.role == SENDER else self.namespace.config.max_message_bytes
                link.context = Replies(address) if link.role == SENDER else Requests(address)
                self.connection.accept_attach(link, max_message_size=limit)
            elif link.role == SENDER:
                self._attach_consumer(link, address)
            else:
                link.context = Publisher.attach(self.namespace, self.authorization, address)
                self.connection.accept_attach(link, max_message_size=self.namespace.config.max_message_bytes)
                log.info("%s: producer attached to %s", self.peer, address)
        except EventHubsError as exc:
            log.info("%s: refused link to %r: %s", self.peer, address, exc.description)
            if link.state is LinkState.ATTACHING:
                self.connection.refuse_attach(link, Error(exc.condition, exc.description))
            else:
                self.connection.detach(link, Error(exc.condition, exc.description))

    def _on_message(self, event: amqp.MessageReceived) -> None:
        ctx = event.link.context
        error: Error | None = None
        try:
            if isinstance(ctx, Publisher):
                if self.clock() >= ctx.authorized_until:  # the token may have expired since attach
                    self.authorization.require(ctx.entity, SEND)
                    ctx.authorized_until = self.authorization.expiry(ctx.entity, SEND) or 0
                ctx.publish(self.namespace, event.payload, event.message_format)
            elif isinstance(ctx, Requests):
                self._request(ctx.node, event.payload)
            else:
                error = Error("amqp:not-allowed", "this link does not take messages")
        except DecodeError as exc:
            error = Error("amqp:decode-error", f"the message could not be decoded: {exc}")
        except EventHubsError as exc:
            error = Error(exc.condition, exc.description)
        except (OSError, ValueError) as exc:
            # A traceback per 10 s, not per send: a producer retrying against a broken store floods nothing.
            self.namespace.storage_log.warning(
                "store-failed", "%s: storing a message failed", self.peer, exc_info=True
            )
            error = Error("amqp:internal-error", f"the emulator could not store the message: {exc}")
        if not event.settled:
            self.connection.settle(event.link, event.delivery_id, error=error)

    def _on_credit(self, link: Link) -> None:
        if isinstance(link.context, Replies):
            self._flush_replies(link)
        elif isinstance(link.context, Consumer):
            self._pump(link)

    @property
    def backlogged(self) -> bool:
        """Consumers have more to send and the transport may take it: call `pump_backlog()` soon."""
        return self.writable and bool(self._backlog)

    def pump_backlog(self, budget_s: float | None = None) -> None:
        """Send what waiting consumers have, each up to the pump budget, for at most `budget_s` seconds;
        those not reached, or with more to send, stay in the backlog for the next call."""
        deadline = None if budget_s is None else time.monotonic() + budget_s
        for link in list(self._backlog):
            if not self.writable or (deadline is not None and time.monotonic() >= deadline):
                return
            self._pump(link)

    def _pump(self, link: Link) -> None:
        ctx = link.context
        # Out of the backlog while it sends; back in at its end if it has more: links take turns.
        self._backlog.pop(link, None)
        if not isinstance(ctx, Consumer) or link not in self._consumers:
            return
        if not self.writable:
            self._backlog[link] = None
            return
        if ctx.pump(self.connection, link, self.clock, self.pump_budget):
            self._backlog[link] = None
            return
        if link.drain:
            self.connection.complete_drain(link)

    # ---- consumers --------------------------------------------------------------------------------------

    def _attach_consumer(self, link: Link, address: str) -> None:
        source = parse_receiver_address(address)
        hub = self.namespace.hub(source.hub)
        group = self.namespace.consumer_group(hub, source.consumer_group)
        partition_id = self.namespace.check_partition(hub, source.partition_id)
        self.authorization.require(consumer_entity(hub.name, group, partition_id), LISTEN)
        partition_log = self.namespace.log(hub, partition_id)
        start = start_sequence(link, partition_log)
        epoch = epoch_of(link)
        identifier = link.properties.get(RECEIVER_NAME)
        receiver = Receiver(
            hub.name, group, partition_id, epoch, "nil" if identifier is None else str(identifier),
            kick=lambda exc: self._kick(link, exc),
        )  # fmt: skip
        self.namespace.open_receiver(receiver)
        ctx = Consumer(
            hub, partition_log, receiver, start, wants_runtime_metrics(link),
            listener=lambda: self._on_new_events(link),
        )  # fmt: skip
        link.context = ctx
        self._consumers.append(link)
        self.namespace.listen(hub, partition_id, ctx.listener)
        properties = {EPOCH: epoch} if epoch is not None else None
        self.connection.accept_attach(
            link, properties=properties, offered_capabilities=tuple(str(c) for c in link.desired_capabilities)
        )
        log.info("%s: consumer attached to %s from sequence number %d", self.peer, address, start)

    def _on_new_events(self, link: Link) -> None:
        if link.can_send and link not in self._backlog:
            self._pump(link)
            self.wake()

    def _kick(self, link: Link, exc: EventHubsError) -> None:
        log.info("%s: %s", self.peer, exc.description)
        self._drop_consumer(link)
        self.connection.detach(link, Error(exc.condition, exc.description))
        self.wake()

    def _drop_consumer(self, link: Link) -> None:
        ctx = link.context
        if not isinstance(ctx, Consumer) or link not in self._consumers:
            return
        self._consumers.remove(link)
        self._backlog.pop(link, None)
        self.namespace.unlisten(ctx.hub, ctx.receiver.partition_id, ctx.listener)
        self.namespace.close_receiver(ctx.receiver)

    # ---- replies from the nodes -------------------------------------------------------------------------

    def _request(self, node: str, payload: bytes) -> None:
        """Answer a request on the node's reply link; refused past the answers waiting there."""
        link = next(
            (
                link for link in self.connection_links()
                if isinstance(link.context, Replies) and link.context.node == node
            ),
            None,
        )  # fmt: skip
        if link is not None:
            outbox = link.context.outbox
            cap = self.namespace.config.limits.max_pending_replies
            if len(outbox) >= cap:
                raise ResourceLimitError(
                    f"{len(outbox)} answers from {node} already wait for credit on the reply link "
                    f"(limits.max_pending_replies = {cap}); grant credit to read them"
                )
        answer = self.nodes.answer(node, payload)
        if link is None:
            log.warning("%s: a %s request arrived with no link to answer on", self.peer, node)
            return
        link.context.outbox.append(answer)
        self._flush_replies(link)

    def _flush_replies(self, link: Link) -> None:
        outbox = link.context.outbox
        while outbox and link.can_send:
            self.connection.send_message(link, outbox.popleft())

    def connection_links(self) -> list[Link]:
        return [
            link
            for session in self.connection.sessions.values()
            for link in session.links_by_handle.values()
            if link.state is LinkState.ATTACHED
        ]
