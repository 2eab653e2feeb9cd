"""Read one Event Hubs partition over hubstream's own AMQP client: what the executors run.

The azure-eventhub SDK consumer costs ~55 us of Python per event (two socket reads per frame, a general
decoder, an EventData and an AmqpAnnotatedMessage per event), which held a 2-core machine near 30,000
events/s. Here the bytes go from large socket reads through the sans-I/O client connection
(`amqp10.connection`, the same state machine the emulator serves with) straight into Arrow
columns (`columns.EventColumns`).

What it speaks is what the SDK speaks, so it works against the service as against the emulator:
TLS on port 5671 (plain TCP for `UseDevelopmentEmulator=true`), SASL ANONYMOUS, then a token put to `$cbs`
(a SAS token signed with the connection string's key, the connection string's SharedAccessSignature, or
a Microsoft Entra ID token from DefaultAzureCredential), then a receiving link on
`<hub>/ConsumerGroups/<group>/Partitions/<id>` with the selector filter for the starting position.
Not supported: AMQP over WebSockets and proxies (the SDK's `TransportType.AmqpOverWebsocket`).
"""

from __future__ import annotations

import socket
import ssl
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from amqp10.connection import (
    NEED_DATA,
    RECEIVER,
    SENDER,
    Connection,
    ConnectionClosed,
    Link,
    LinkAttached,
    LinkDetached,
    MessageReceived,
    Session,
    State,
)
from amqp10.errors import ProtocolError
from amqp10.message import Message, Properties
from amqp10.performatives import Error, Source, Target
from amqp10.types import Described, Symbol
from conf.connection_string import ConnectionString, parse_connection_string
from conf.sas import make_sas_token

from .columns import EventColumns

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

AMQP_PORT = 5672
AMQPS_PORT = 5671
SELECTOR_FILTER = "apache.org:selector-filter:string"
GEOREPLICATION = "com.microsoft:georeplication"  # the SDK asks for it: offsets as the service gives them
JWT_SCOPE = "https://eventhubs.azure.net/.default"
TOKEN_LIFETIME_S = 3600
READ_SIZE = 1 << 18


class ReceiveError(RuntimeError):
    """The service refused or ended the read: the message says why (its condition and description)."""

    def __init__(self, message: str, condition: str | None = None) -> None:
        super().__init__(message)
        self.condition = condition


def selector(position: int | str | datetime, inclusive: bool) -> str:
    """The selector filter for a starting position, as the SDK writes it: a sequence number (int), an
    offset (str) or an enqueued time."""
    op = ">=" if inclusive else ">"
    if isinstance(position, datetime):
        ms = int(position.timestamp() * 1000)
        return f"amqp.annotation.x-opt-enqueued-time {op} '{ms}'"
    if isinstance(position, int):
        return f"amqp.annotation.x-opt-sequence-number {op} '{position}'"
    return f"amqp.annotation.x-opt-offset {op} '{position}'"


@dataclass(frozen=True)
class Endpoint:
    """Where and how to connect; built from a connection string or a namespace and a credential."""

    host: str
    port: int
    tls: bool
    hub: str
    connection_string: ConnectionString | None = None
    credential: TokenCredential | None = None

    @classmethod
    def from_options(cls, connection_string: str | None, namespace: str | None, hub: str) -> Endpoint:
        if connection_string:
            cs = parse_connection_string(connection_string, where="eventhubs.connectionString")
            tls = not cs.use_development_emulator
            port = cs.port or (AMQPS_PORT if tls else AMQP_PORT)
            return cls(cs.host, port, tls, hub, connection_string=cs)
        from azure.identity import DefaultAzureCredential

        assert namespace is not None
        host, _, port_text = namespace.partition(":")
        return cls(host, int(port_text or AMQPS_PORT), True, hub, credential=DefaultAzureCredential())

    @property
    def audience(self) -> str:
        return f"sb://{self.host}/{self.hub}"

    def token(self) -> tuple[str, str, int]:
        """(token, token type, expiry in epoch seconds) for `$cbs`."""
        cs = self.connection_string
        if cs is not None and cs.shared_access_signature is not None:
            expiry = _sas_expiry(cs.shared_access_signature.reveal())
            return cs.shared_access_signature.reveal(), "servicebus.windows.net:sastoken", expiry
        if cs is not None:
            expiry = int(time.time()) + TOKEN_LIFETIME_S
            token = make_sas_token(self.audience, cs.key_name, cs.key.reveal(), expiry)
            return token, "servicebus.windows.net:sastoken", expiry
        assert self.credential is not None
        access = self.credential.get_token(JWT_SCOPE)
        return access.token, "jwt", int(access.expires_on)


def _sas_expiry(token: str) -> int:
    for field in token.split("&"):
        name, _, value = field.partition("=")
        if name.strip().lower() == "se" and value.strip().isdigit():
            return int(value)
    return int(time.time()) + TOKEN_LIFETIME_S


class PartitionReceiver:
    """One connection, authenticated, with one receiving link on one partition.

        with PartitionReceiver(endpoint, "$Default", "0", 1200, inclusive=True) as r:
            for payloads in r.messages(idle_timeout_s=60): ...

    Blocking I/O on one socket, in the calling thread.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        consumer_group: str,
        partition_id: str,
        position: int | str | datetime,
        *,
        inclusive: bool = True,
        prefetch: int = 3000,
        timeout_s: float = 60.0,
    ) -> None:
        self.endpoint = endpoint
        self.consumer_group = consumer_group
        self.partition_id = partition_id
        self.position = position
        self.inclusive = inclusive
        self.prefetch = max(1, prefetch)
        self.timeout_s = timeout_s
        self._sock: socket.socket | None = None
        self._conn: Connection | None = None
        self._link: Link | None = None
        self._events: list[Any] = []

    @property
    def address(self) -> str:
        e = self.endpoint
        return f"amqps://{e.host}/{e.hub}/ConsumerGroups/{self.consumer_group}/Partitions/{self.partition_id}"

    def __enter__(self) -> PartitionReceiver:
        self.open()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ---- connecting ----------------------------------------------------------------------------------

    def open(self) -> None:
        """Connect, authenticate and attach; on any failure nothing is left open."""
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def _open(self) -> None:
        e = self.endpoint
        deadline = time.monotonic() + self.timeout_s
        try:
            sock = socket.create_connection((e.host, e.port), timeout=self.timeout_s)
        except OSError as exc:
            raise ReceiveError(f"cannot connect to {e.host}:{e.port}: {exc}") from None
        self._sock = sock
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if e.tls:
            try:
                self._sock = sock = ssl.create_default_context().wrap_socket(sock, server_hostname=e.host)
            except OSError as exc:  # ssl.SSLError and certificate errors are OSErrors
                raise ReceiveError(f"TLS with {e.host}:{e.port} failed: {exc}") from None
        self._conn = conn = Connection.client(
            f"hubstream-{uuid.uuid4().hex[:12]}", e.host, idle_timeout_ms=0, now=time.monotonic()
        )
        self._wait(lambda: conn.state is State.OPEN, deadline, "open the connection")
        session = conn.begin()
        self._authorize(session, deadline)
        where = selector(self.position, self.inclusive)
        filter_ = {Symbol(SELECTOR_FILTER): Described(Symbol(SELECTOR_FILTER), where)}
        link = conn.attach(
            session,
            f"hubstream-{self.partition_id}-{uuid.uuid4().hex[:8]}",
            RECEIVER,
            source=Source(self.address, filter=filter_),
            target=Target(f"hubstream-receiver-{uuid.uuid4().hex[:8]}"),
            desired_capabilities=(GEOREPLICATION,),
            credit=self.prefetch,
        )
        self._link = link  # from here on, its detach ends the read
        self._flush()
        attached = self._wait_for(
            lambda ev: isinstance(ev, LinkAttached) and ev.link is link, deadline, "attach the receiver"
        )
        if attached.remote.source is None:  # refused: the detach that follows says why
            detached = self._wait_for(
                lambda ev: isinstance(ev, LinkDetached) and ev.link is link, deadline, "attach the receiver"
            )
            raise self._error(detached.error, "the service refused the receiver")

    def _authorize(self, session: Session, deadline: float) -> None:
        """Put a token to `$cbs` for the hub, as the SDK does, and check the answer."""
        conn = self._conn
        assert conn is not None
        reply_to = f"hubstream-cbs-{uuid.uuid4().hex[:8]}"
        sender = conn.attach(session, "cbs-sender", SENDER, source=Source(reply_to), target=Target("$cbs"))
        replies = conn.attach(
            session, "cbs-receiver", RECEIVER, source=Source("$cbs"), target=Target(reply_to)
        )
        self._flush()
        self._wait(lambda: sender.can_send, deadline, "authorize")
        token, token_type, expiry = self.endpoint.token()
        request = Message(
            properties=Properties(message_id=uuid.uuid4().hex, reply_to=reply_to),
            application_properties={
                "operation": "put-token",
                "type": token_type,
                "name": self.endpoint.audience,
                "expiration": expiry,
            },
            value=token,
            has_value=True,
        )
        conn.send_message(sender, request.encode())
        self._flush()
        answer = self._wait_for(
            lambda ev: isinstance(ev, MessageReceived) and ev.link is replies, deadline, "authorize"
        )
        response = Message.decode(answer.payload)
        props = {str(k): v for k, v in (response.application_properties or {}).items()}
        status = int(props.get("status-code", 0) or 0)
        if status not in (200, 202):
            description = props.get("status-description") or props.get("statusDescription") or ""
            raise ReceiveError(
                f"the service refused the token for {self.endpoint.audience} ({status}): {description}",
                "amqp:unauthorized-access",
            )
        conn.detach(sender)
        conn.detach(replies)

    # ---- reading ---------------------------------------------------------------------------------------

    def read_into(self, columns: EventColumns, idle_timeout_s: float) -> list[int]:
        """Read what has arrived (waiting up to `idle_timeout_s` for the first event) into `columns`;
        return the sequence numbers added. TimeoutError when nothing arrives in time."""
        link, conn = self._link, self._conn
        assert link is not None and conn is not None
        deadline = time.monotonic() + idle_timeout_s
        added: list[int] = []
        while True:
            unsettled: list[int] = []
            for event in self._take_events():
                if isinstance(event, MessageReceived) and event.link is link:
                    added.append(columns.add(event.payload))
                    if not event.settled:
                        unsettled.append(event.delivery_id)
                else:
                    self._check(event)
            if unsettled:
                conn.settle(link, unsettled[0], last=unsettled[-1])
            self._flush()
            if added:
                return added
            if time.monotonic() > deadline:
                raise TimeoutError(f"no event arrived within {idle_timeout_s:g} s")
            self._read(deadline)

    def close(self) -> None:
        conn, sock = self._conn, self._sock
        self._conn = self._sock = self._link = None
        if sock is None:
            return
        try:
            if conn is not None and conn.state is State.OPEN:
                conn.close()
                sock.sendall(conn.data_to_send())
        except OSError:
            pass  # the peer is gone: nothing to say goodbye to
        finally:
            sock.close()

    # ---- I/O -----------------------------------------------------------------------------------------

    def _flush(self) -> None:
        assert self._conn is not None and self._sock is not None
        data = self._conn.data_to_send()
        if data:
            try:
                self._sock.sendall(data)
            except OSError as exc:
                raise ReceiveError(f"{self._where()}: connection lost: {exc}") from None
            self._conn.note_sent(time.monotonic())

    def _read(self, deadline: float) -> None:
        sock, conn = self._sock, self._conn
        assert sock is not None and conn is not None
        sock.settimeout(max(0.05, min(1.0, deadline - time.monotonic())))
        try:
            data = sock.recv(READ_SIZE)
        except TimeoutError:
            data = None
        except OSError as exc:
            raise ReceiveError(f"{self._where()}: connection lost: {exc}") from None
        now = time.monotonic()
        if data is not None:
            conn.receive_data(data, now)
        conn.check_timers(now)

    def _take_events(self) -> list[Any]:
        conn = self._conn
        assert conn is not None
        events, self._events = self._events, []
        try:
            while (event := conn.next_event()) is not NEED_DATA:
                events.append(event)
        except ProtocolError as exc:
            self._flush()
            raise ReceiveError(f"{self._where()}: protocol error: {exc}") from None
        return events

    def _check(self, event: Any) -> None:
        """Raise for events that end the read; others (credit, replies crossing a detach) are ignored."""
        if isinstance(event, LinkDetached) and event.link is self._link:
            raise self._error(event.error, "the service detached the receiver")
        if isinstance(event, ConnectionClosed):
            raise self._error(event.error, "the service closed the connection")

    def _error(self, error: Error | None, what: str) -> ReceiveError:
        if error is None:
            return ReceiveError(f"{self._where()}: {what}")
        return ReceiveError(f"{self._where()}: {error.condition}: {error.description or ''}", error.condition)

    def _where(self) -> str:
        return (
            f"event hub {self.endpoint.hub!r}, consumer group {self.consumer_group!r}, "
            f"partition {self.partition_id}"
        )

    def _wait(self, ready: Any, deadline: float, what: str) -> None:
        self._flush()
        while not ready():
            for event in self._take_events():
                self._check(event)
                self._events.append(event)
            if ready():
                return
            self._flush()
            if time.monotonic() > deadline:
                raise ReceiveError(f"{self._where()}: timed out trying to {what}")
            self._read(deadline)

    def _wait_for(self, match: Any, deadline: float, what: str) -> Any:
        """Read until an event matches; keep the rest for later, raise on one that ends the read."""
        kept: list[Any] = []
        try:
            while True:
                events = self._take_events()
                for i, event in enumerate(events):
                    if match(event):
                        kept += events[i + 1 :]
                        for later in events[i + 1 :]:  # a refusal: an attach, then at once a detach
                            self._check(later)
                        return event
                    self._check(event)
                    kept.append(event)
                self._flush()
                if time.monotonic() > deadline:
                    raise ReceiveError(f"{self._where()}: timed out trying to {what}")
                self._read(deadline)
        finally:
            self._events = kept + self._events
