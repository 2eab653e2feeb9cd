"""One authenticated AMQP connection to an Event Hubs namespace, over hubstream's own `amqp10` layer.

What it speaks is what the azure-eventhub SDK speaks, so it works against the service as against the
emulator: TLS on port 5671 (plain TCP for `UseDevelopmentEmulator=true`), or AMQP over WebSockets
(`wss://<host>:443/$servicebus/websocket`, the SDK's `TransportType.AmqpOverWebsocket`, framed by
`amqp10.websocket`), SASL ANONYMOUS, then a token
put to `$cbs` for the hub (a SAS token signed with the connection string's key, the connection string's
SharedAccessSignature, or a Microsoft Entra ID token from DefaultAzureCredential). Requests to a node
(`$cbs`, `$management`) go out on a sender link and come back on a receiver link whose target is the
request's reply-to address. Blocking I/O on one socket, in the calling thread.
The certificate is checked against the system's CAs, or only against `Endpoint.ca_file`/`ca_pem` (the
SDK's `connection_verify`, e.g. the emulator's local CA). `custom_endpoint_address` dials another
host/port, as the SDK's does. Not supported: HTTP proxies.
Failures raise `eventhubs.errors` classes: the service's refusals by their condition, a lost
connection as `ConnectionLostError`.
"""

from __future__ import annotations

import math
import select
import socket
import ssl
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from amqp10.connection import (
    NEED_DATA,
    RECEIVER,
    SENDER,
    Connection,
    ConnectionClosed,
    CreditGranted,
    Link,
    LinkAttached,
    LinkDetached,
    MessageReceived,
    Session,
    State,
)
from amqp10.errors import ProtocolError
from amqp10.performatives import Error, Source, Target
from amqp10.websocket import WebSocketClient
from eventhubs import nodes
from eventhubs.connection_string import ConnectionString
from eventhubs.errors import (
    ConnectionLostError,
    EventHubsError,
    OperationTimeoutError,
    UnauthorizedError,
    error_for,
)
from eventhubs.links import WEBSOCKET_PATH, WEBSOCKET_PORT, CustomEndpoint, audience
from eventhubs.sas import JWT_TOKEN_TYPE, TOKEN_TYPE, make_sas_token, token_expiry

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

AMQP_PORT = 5672
AMQPS_PORT = 5671
JWT_SCOPE = "https://eventhubs.azure.net/.default"
TOKEN_LIFETIME_S = 3600
RENEW_MARGIN_S = 30.0
READ_SIZE = 1 << 18

T = TypeVar("T")


@dataclass(frozen=True)
class Endpoint:
    """Where and how to connect; built from a connection string or a namespace and a credential.

    `websocket`: AMQP over WebSockets at `/$servicebus/websocket` (wss with `tls`). `ca_file` (a PEM
    file) or `ca_pem` (its text): trust only these CAs (the SDK's `connection_verify`), else the system's;
    `ca_option` is what errors tell the user to set. `dial_host`: connect there instead of `host`
    (the SDK's `custom_endpoint_address`; TLS then checks that name, the token still names `host`).
    """

    host: str
    port: int
    tls: bool
    hub: str
    connection_string: ConnectionString | None = field(default=None, repr=False)
    credential: TokenCredential | None = field(default=None, repr=False)
    websocket: bool = False
    ca_file: str | None = None
    ca_pem: str | None = field(default=None, repr=False)
    ca_option: str = field(default="ca_file", compare=False)
    dial_host: str | None = None
    websocket_path: str = WEBSOCKET_PATH
    token_lifetime_s: int = TOKEN_LIFETIME_S  # of the SAS tokens signed with the connection string's key

    @classmethod
    def connect_to(
        cls,
        connection_string: ConnectionString | None,
        namespace: str | None,
        hub: str,
        *,
        websocket: bool = False,
        ca_file: str | None = None,
        ca_pem: str | None = None,
        ca_option: str = "ca_file",
        custom_endpoint_address: str | None = None,
    ) -> Endpoint:
        """From a connection string, or else a namespace (host[:port]) reached with DefaultAzureCredential.

        A port named there is used (unlike the SDK, which dials 5671, or 443 for WebSockets), unless a
        `custom_endpoint_address` says where to dial: its port, else 5671 (443 for WebSockets), as the
        SDK's."""
        trust: dict[str, Any] = {"ca_file": ca_file, "ca_pem": ca_pem, "ca_option": ca_option}
        custom = CustomEndpoint.parse(custom_endpoint_address) if custom_endpoint_address else None
        if custom is not None:
            trust.update(dial_host=custom.host, websocket_path=custom.path + WEBSOCKET_PATH)
        if connection_string is not None:
            cs = connection_string
            tls = not cs.use_development_emulator
            default = WEBSOCKET_PORT if websocket else AMQPS_PORT if tls else AMQP_PORT
            port = custom.port_for(websocket) if custom else cs.port or default
            return cls(
                cs.host, port, tls, hub, connection_string=cs, websocket=websocket, **trust
            )  # fmt: skip
        from azure.identity import DefaultAzureCredential

        assert namespace is not None
        host, _, port_text = namespace.partition(":")
        port = int(port_text or (WEBSOCKET_PORT if websocket else AMQPS_PORT))
        if custom is not None:
            port = custom.port_for(websocket)
        return cls(
            host, port, True, hub, credential=DefaultAzureCredential(), websocket=websocket, **trust
        )  # fmt: skip

    @property
    def address(self) -> str:
        """The host dialed: the custom endpoint's, else the namespace's."""
        return self.dial_host or self.host

    def tls_context(self) -> ssl.SSLContext:
        """The client context: the system's CAs, or only the given ones (the SDK's connection_verify)."""
        try:
            return ssl.create_default_context(cafile=self.ca_file, cadata=self.ca_pem)
        except FileNotFoundError:
            raise ConnectionLostError(
                f"{self.ca_option} = {self.ca_file!r}: no such file; give the path of the PEM file of the "
                "CA to trust (the emulator's: `python -m emulator ca`)"
            ) from None
        except (ssl.SSLError, ValueError) as exc:
            what = repr(self.ca_file) if self.ca_file else "(the PEM text given)"
            raise ConnectionLostError(
                f"{self.ca_option} = {what} holds no usable CA certificate ({exc}): give a PEM file "
                "with -----BEGIN CERTIFICATE----- blocks"
            ) from None

    def untrusted(self, exc: ssl.SSLCertVerificationError) -> str:
        """Why the service's certificate was refused, and which setting fixes it."""
        reason = f"TLS with {self.address}:{self.port}: the certificate was refused ({exc})"
        if self.ca_file is None and self.ca_pem is None:
            return (
                f"{reason}; it is not signed by a CA this system trusts: set {self.ca_option} to the PEM "
                "file of the CA that signed it (the emulator's local CA: `python -m emulator ca`)"
            )
        trusted = self.ca_file or "the PEM text given"
        return (
            f"{reason}; {self.ca_option} ({trusted}) holds no CA that signed it (or the certificate is not "
            f"for {self.address}): set {self.ca_option} to the CA that did (the emulator's: "
            "`python -m emulator ca`)"
        )

    @property
    def audience(self) -> str:
        return audience(self.host, self.hub)

    def token(self) -> tuple[str, str, int]:
        """(token, token type, expiry in epoch seconds) for `$cbs`."""
        cs = self.connection_string
        if cs is not None and cs.shared_access_signature is not None:
            token = cs.shared_access_signature.reveal()
            expiry = token_expiry(token) or int(time.time()) + self.token_lifetime_s
            return token, TOKEN_TYPE, expiry
        if cs is not None:
            expiry = int(time.time()) + self.token_lifetime_s
            return make_sas_token(self.audience, cs.key_name, cs.key.reveal(), expiry), TOKEN_TYPE, expiry
        assert self.credential is not None
        access = self.credential.get_token(JWT_SCOPE)
        return access.token, JWT_TOKEN_TYPE, int(access.expires_on)


class HubConnection:
    """A connection with one session, authorized for the endpoint's hub once `open()` returns.

    The service detaches a connection's links when its token expires, so a connection that outlives its
    token (a receiver kept across micro-batches, a long sink task) puts a new one to `$cbs` on the same
    connection when a tenth of the token's lifetime is left, as the azure-eventhub SDK does
    (`_pyamqp/cbs.py`: refresh window = 10% of expires_in), or 30 s if that is more. Any `flush()` does
    it when due: every read and send goes through one.
    """

    def __init__(self, endpoint: Endpoint, timeout_s: float, where: str) -> None:
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self.where = where  # what errors name: the hub, the consumer group, the partition
        self.token: str | None = None  # the token put to $cbs: management requests carry it too
        self._sock: socket.socket | None = None
        self._ws: WebSocketClient | None = None  # AMQP over WebSockets: frames the bytes on _sock
        self._conn: Connection | None = None
        self._session: Session | None = None
        self._nodes: dict[str, tuple[Link, Link, str]] = {}  # node -> (sender, receiver, reply-to)
        self._watched: set[Link] = set()  # links whose detach ends what we do
        self._events: list[Any] = []
        self._renew_at = math.inf  # wall clock (epoch seconds) when the token is to be put again
        self._token_expiry = 0
        self._renewing = False

    @property
    def connection(self) -> Connection:
        assert self._conn is not None, "the connection is not open"
        return self._conn

    # ---- opening and closing ---------------------------------------------------------------------------

    def open(self) -> None:
        """Connect, authenticate and authorize for the hub; on any failure nothing is left open."""
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def open_and_attach(self, attach: Callable[[], T], close: Callable[[], None]) -> T:
        """Open, then `attach` the caller's link(s) and return what it returns; on any failure `close` the
        caller (nothing is left open) and raise."""
        try:
            self.open()
            return attach()
        except BaseException:
            close()
            raise

    def _open(self) -> None:
        e = self.endpoint
        deadline = time.monotonic() + self.timeout_s
        context = e.tls_context() if e.tls else None
        try:
            sock = socket.create_connection((e.address, e.port), timeout=self.timeout_s)
        except OSError as exc:
            raise ConnectionLostError(
                f"cannot connect to {e.address}:{e.port}: {exc} (check the connection string's Endpoint, "
                "the custom endpoint address if any, and that the namespace, or the emulator, is reachable "
                "from here)"
            ) from None
        self._sock = sock
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if context is not None:
            try:
                self._sock = sock = context.wrap_socket(sock, server_hostname=e.address)
            except ssl.SSLCertVerificationError as exc:
                raise ConnectionLostError(e.untrusted(exc)) from None
            except OSError as exc:  # ssl.SSLError and certificate errors are OSErrors
                raise ConnectionLostError(f"TLS with {e.address}:{e.port} failed: {exc}") from None
        self._conn = conn = Connection.client(
            f"hubstream-{uuid.uuid4().hex[:12]}", e.host, idle_timeout_ms=0, now=time.monotonic()
        )
        if e.websocket:
            self._open_websocket(deadline)
        self.wait(lambda: conn.state is State.OPEN, deadline, "open the connection")
        self._session = conn.begin()
        self._put_token(deadline)

    def _put_token(self, deadline: float) -> None:
        e = self.endpoint
        token, token_type, expiry = e.token()
        now = time.time()
        reply = self.request(
            nodes.CBS, nodes.put_token(token, token_type, e.audience, expiry), token, deadline
        )
        if not reply.ok:
            raise UnauthorizedError(
                f"the service refused the token for {e.audience} ({reply.status}): {reply.description}"
            )
        self.token = token
        # A token that did not get any later (a connection string's fixed SharedAccessSignature) is not
        # put again and again: the service will detach the links when it expires, as it says.
        renewable = expiry > self._token_expiry
        self._token_expiry = expiry
        life = expiry - now
        # The SDK's window (a tenth of the lifetime), but never under RENEW_MARGIN_S (or half a short
        # token's life): the put-token round trip on a busy machine must fit in it.
        window = max(0.1 * life, min(0.5 * life, RENEW_MARGIN_S))
        self._renew_at = expiry - window if renewable else math.inf

    def renew_token_if_due(self) -> None:
        """Put a new token to `$cbs` when the current one is in its last tenth of life (or 30 s)."""
        if self._renewing or self._conn is None or time.time() < self._renew_at:
            return
        self._renewing = True  # the put-token request flushes too
        try:
            self._put_token(time.monotonic() + self.timeout_s)
        finally:
            self._renewing = False

    def _open_websocket(self, deadline: float) -> None:
        e = self.endpoint
        default = WEBSOCKET_PORT if e.tls else 80
        ws = WebSocketClient(e.address if e.port == default else f"{e.address}:{e.port}", e.websocket_path)
        self._ws = ws
        self._send_raw(ws.data_to_send())
        while not ws.open:
            if time.monotonic() > deadline:
                raise OperationTimeoutError(f"{self.where}: timed out opening the WebSocket")
            self.read(deadline)

    def close(self) -> None:
        conn, sock, ws = self._conn, self._sock, self._ws
        self._conn = self._sock = self._session = self._ws = None
        self._renew_at, self._token_expiry = math.inf, 0
        self._nodes.clear()
        self._watched.clear()
        if sock is None:
            return
        try:
            if conn is not None and conn.state is State.OPEN:
                conn.close()
                data = conn.data_to_send()
                if ws is not None:
                    ws.send(data)
                    ws.close()
                    data = ws.data_to_send()
                sock.sendall(data)
        except OSError:
            pass  # the peer is gone: nothing to say goodbye to
        finally:
            sock.close()

    # ---- links and requests ------------------------------------------------------------------------------

    def attach_receiver(
        self, name: str, source: Source, target: Target, capabilities: tuple[str, ...], credit: int
    ) -> Link:
        """Attach a receiving link and wait for the service's answer; a refusal raises with its reason."""
        assert self._session is not None
        deadline = time.monotonic() + self.timeout_s
        link = self.connection.attach(
            self._session, name, RECEIVER, source=source, target=target,
            desired_capabilities=capabilities, credit=credit,
        )  # fmt: skip
        self._watched.add(link)  # from here on, its detach ends the read
        self._await_attach(link, deadline, "receiver")
        return link

    def attach_sender(self, name: str, source: Source, target: Target) -> tuple[Link, int | None]:
        """Attach a sending link for unsettled deliveries and wait for the service's answer; return it and
        the max-message-size the service announced (None: it set none). A refusal raises with its reason."""
        assert self._session is not None
        deadline = time.monotonic() + self.timeout_s
        link = self.connection.attach(
            self._session, name, SENDER, source=source, target=target, settled=False
        )
        self._watched.add(link)  # from here on, its detach ends the send
        attached = self._await_attach(link, deadline, "sender")
        return link, attached.remote.max_message_size or None

    def _await_attach(self, link: Link, deadline: float, role: Literal["receiver", "sender"]) -> LinkAttached:
        """Wait for the service's attach; it refuses by leaving out the terminus it would have served
        (the source of our receiver, the target of our sender), and the detach that follows says why."""
        what = f"attach the {role}"
        attached = self.wait_for(lambda ev: isinstance(ev, LinkAttached) and ev.link is link, deadline, what)
        served = attached.remote.source if role == "receiver" else attached.remote.target
        if served is None:
            detached = self.wait_for(
                lambda ev: isinstance(ev, LinkDetached) and ev.link is link, deadline, what
            )
            raise self.error(detached.error, f"the service refused the {role}")
        return attached

    def request(
        self, node: str, properties: dict[str, Any], body: Any, deadline: float | None = None
    ) -> nodes.Reply:
        """Send a request to `node` and wait for its answer."""
        conn = self.connection
        assert self._session is not None
        deadline = deadline if deadline is not None else time.monotonic() + self.timeout_s
        if node not in self._nodes:
            reply_to = f"hubstream-{node.strip('$')}-{uuid.uuid4().hex[:8]}"
            sender = conn.attach(
                self._session,
                f"{node}-sender-{reply_to}",
                SENDER,
                source=Source(reply_to),
                target=Target(node),
            )
            replies = conn.attach(
                self._session, f"{node}-receiver-{reply_to}", RECEIVER, source=Source(node),
                target=Target(reply_to),
            )  # fmt: skip
            self._watched.update((sender, replies))
            self._nodes[node] = (sender, replies, reply_to)
        sender, replies, reply_to = self._nodes[node]
        self.wait(lambda: sender.can_send, deadline, f"send a request to {node}")
        message_id = uuid.uuid4().hex
        conn.send_message(sender, nodes.encode_request(properties, body, message_id, reply_to))
        while True:  # an answer to an earlier request that timed out is dropped
            answer = self.wait_for(
                lambda ev: isinstance(ev, MessageReceived) and ev.link is replies,
                deadline,
                f"hear from {node}",
            )
            reply = nodes.decode_reply(answer.payload)
            if reply.correlation_id in (None, message_id):
                return reply

    # ---- I/O ---------------------------------------------------------------------------------------------

    def flush(self) -> None:
        conn, ws = self.connection, self._ws
        if ws is not None and not ws.open:
            return  # the WebSocket handshake first
        self.renew_token_if_due()
        data = conn.data_to_send()
        if data:
            if ws is not None:
                ws.send(data)
                data = ws.data_to_send()
            self._send_raw(data)
            conn.note_sent(time.monotonic())

    def _send_raw(self, data: bytes) -> None:
        sock = self._sock
        assert sock is not None
        try:
            sock.sendall(data)
        except OSError as exc:
            raise ConnectionLostError(f"{self.where}: connection lost: {exc}") from None

    def read(self, deadline: float) -> None:
        """Wait up to `deadline` (at most a second) for bytes and feed them to the connection."""
        sock, conn, ws = self._sock, self.connection, self._ws
        assert sock is not None
        # Awake in time to renew the token, should it fall due while we wait.
        renew_in = self._renew_at - time.time()
        sock.settimeout(max(0.05, min(1.0, deadline - time.monotonic(), renew_in)))
        try:
            data: bytes | None = sock.recv(READ_SIZE)
        except TimeoutError:
            data = None
        except OSError as exc:
            raise ConnectionLostError(f"{self.where}: connection lost: {exc}") from None
        if ws is not None and data is not None:
            data = self._unframe(ws, data)
        now = time.monotonic()
        if data is not None:
            conn.receive_data(data, now)
        conn.check_timers(now)

    def _unframe(self, ws: WebSocketClient, data: bytes) -> bytes | None:
        """The AMQP bytes in what the socket gave (b"": the stream ended; None: nothing for AMQP)."""
        eof = not data
        try:
            amqp = ws.receive_data(data)
        except ProtocolError as exc:
            raise ConnectionLostError(f"{self.where}: {exc}") from None
        reply = ws.data_to_send()  # pongs, the answer to a close
        if reply:
            self._send_raw(reply)
        if eof or (ws.closed and not amqp):
            return b""  # the end of the stream, as a closed socket says it
        return amqp or None  # None: only WebSocket control frames, or the handshake's answer

    def poll(self) -> None:
        """Feed whatever bytes have already arrived, without waiting."""
        sock, conn, ws = self._sock, self.connection, self._ws
        assert sock is not None
        sock.setblocking(False)
        try:
            data: bytes | None = sock.recv(READ_SIZE)
        except (BlockingIOError, ssl.SSLWantReadError):
            return
        except OSError as exc:
            raise ConnectionLostError(f"{self.where}: connection lost: {exc}") from None
        finally:
            sock.settimeout(self.timeout_s)
        if ws is not None and data is not None:
            data = self._unframe(ws, data)  # over WebSockets, as read() does
        if data is not None:
            conn.receive_data(data, time.monotonic())

    def still_open(self) -> bool:
        """False when what has already arrived (read now, without waiting) says the service closed the
        connection or detached a link of ours; the events read are kept for `take_events()`."""
        sock = self._sock
        if sock is None or self._conn is None:
            return False
        try:
            pending = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
            if pending or select.select([sock], [], [], 0)[0]:
                self.read(time.monotonic())
            events = self.take_events()
        except EventHubsError:
            return False
        self._events = events
        return not any(
            isinstance(e, ConnectionClosed) or (isinstance(e, LinkDetached) and e.link in self._watched)
            for e in events
        )

    def take_events(self) -> list[Any]:
        """The events so far: those kept back by a wait first, then what the bytes read hold."""
        conn = self.connection
        events, self._events = self._events, []
        try:
            while (event := conn.next_event()) is not NEED_DATA:
                events.append(event)
        except ProtocolError as exc:
            self.flush()
            raise EventHubsError(f"{self.where}: protocol error: {exc}", exc.condition) from None
        return events

    def check(self, event: Any) -> None:
        """Raise for events that end what we do; others (credit, crossing frames) are ignored."""
        if isinstance(event, LinkDetached) and event.link in self._watched:
            raise self.error(event.error, "the service detached a link")
        if isinstance(event, ConnectionClosed):
            raise self.error(event.error, "the service closed the connection", connection_lost=True)

    def error(self, error: Error | None, what: str, *, connection_lost: bool = False) -> EventHubsError:
        """The exception for what the service sent back (or for `what`, when it sent no error)."""
        if connection_lost:
            text = (
                f"{self.where}: {error.condition}: {error.description or ''}"
                if error
                else f"{self.where}: {what}"
            )
            return ConnectionLostError(text)
        if error is None:
            return EventHubsError(f"{self.where}: {what}")
        return error_for(error.condition, f"{self.where}: {error.condition}: {error.description or ''}")

    def wait(self, ready: Callable[[], bool], deadline: float, what: str) -> None:
        """Read until `ready()`; keep the events for later, raise on one that ends what we do."""
        self.flush()
        while not ready():
            for event in self.take_events():
                self.check(event)
                if not isinstance(event, CreditGranted):
                    self._events.append(event)
            if ready():
                return
            self.flush()
            if time.monotonic() > deadline:
                raise OperationTimeoutError(f"{self.where}: timed out trying to {what}")
            self.read(deadline)

    def wait_for(self, match: Callable[[Any], bool], deadline: float, what: str) -> Any:
        """Read until an event matches and return it; keep the rest, raise on one that ends what we do."""
        self.flush()
        kept: list[Any] = []
        try:
            while True:
                events = self.take_events()
                for i, event in enumerate(events):
                    if match(event):
                        kept += events[i + 1 :]
                        for later in events[i + 1 :]:  # a refusal: an attach, then at once a detach
                            self.check(later)
                        return event
                    self.check(event)
                    if not isinstance(event, CreditGranted):  # link.can_send already says it
                        kept.append(event)
                self.flush()
                if time.monotonic() > deadline:
                    raise OperationTimeoutError(f"{self.where}: timed out trying to {what}")
                self.read(deadline)
        finally:
            self._events = kept + self._events
