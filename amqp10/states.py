"""The state machines of a connection, a session and a link, as data.

Each table maps (state, input) to the next state; an input a table lacks for the current state is a
protocol error, raised by `transition`. An input is what the peer sent (a performative, by name) or,
written "local ...", what the application asked for: the error says whose fault it was. What a state
accepts without changing (a transfer on an attached link, a flow) is not listed: the code that reads
those frames checks the state itself, so that the transfer path costs no table look-up.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import TypeVar

from .errors import LocalProtocolError, RemoteProtocolError

S = TypeVar("S", bound=enum.Enum)


def transition(table: Mapping[tuple[S, str], S], state: S, what: str, where: str = "") -> S:
    """The state `what` leads to from `state`; a protocol error (ours for a "local ..." input) if none."""
    try:
        return table[(state, what)]
    except KeyError:
        error = LocalProtocolError if what.startswith("local ") else RemoteProtocolError
        raise error(f"unexpected {what}{where} in state '{state.value}'") from None


# ---- the connection ------------------------------------------------------------------------------------


class State(enum.Enum):
    AWAIT_HEADER = "await protocol header"
    AWAIT_SASL_INIT = "await sasl-init"
    AWAIT_SASL_MECHANISMS = "await sasl-mechanisms"
    AWAIT_SASL_OUTCOME = "await sasl-outcome"
    AWAIT_AMQP_HEADER = "await AMQP header after SASL"
    AWAIT_OPEN = "await open"
    OPEN = "open"
    CLOSE_SENT = "close sent"
    CLOSED = "closed"
    ERROR = "error"  # entered from any state, by a protocol error of either side


_OPEN_AND_CLOSE: dict[tuple[State, str], State] = {
    (State.AWAIT_AMQP_HEADER, "amqp header"): State.AWAIT_OPEN,
    (State.AWAIT_OPEN, "open"): State.OPEN,
    (State.OPEN, "close"): State.CLOSED,  # theirs, answered with ours at once
    (State.OPEN, "local close"): State.CLOSE_SENT,
    (State.CLOSE_SENT, "close"): State.CLOSED,
    # Frames that cross our close are read and dropped until theirs arrives.
    (State.CLOSE_SENT, "frame"): State.CLOSE_SENT,
    (State.OPEN, "frame"): State.OPEN,
}
# The service's end.
TRANSITIONS: dict[tuple[State, str], State] = {
    # Event Hubs clients start with SASL; a client may also skip it and open anonymously.
    (State.AWAIT_HEADER, "sasl header"): State.AWAIT_SASL_INIT,
    (State.AWAIT_HEADER, "amqp header"): State.AWAIT_OPEN,
    (State.AWAIT_SASL_INIT, "sasl accepted"): State.AWAIT_AMQP_HEADER,
    # A refused SASL outcome ends the connection: the peer may not go on to open it.
    (State.AWAIT_SASL_INIT, "sasl refused"): State.CLOSED,
    **_OPEN_AND_CLOSE,
}
# The client's end: it has sent the SASL header and waits for the service's answers.
CLIENT_TRANSITIONS: dict[tuple[State, str], State] = {
    (State.AWAIT_HEADER, "sasl header"): State.AWAIT_SASL_MECHANISMS,
    (State.AWAIT_SASL_MECHANISMS, "sasl mechanisms"): State.AWAIT_SASL_OUTCOME,
    (State.AWAIT_SASL_OUTCOME, "sasl accepted"): State.AWAIT_AMQP_HEADER,
    (State.AWAIT_SASL_OUTCOME, "sasl refused"): State.CLOSED,
    **_OPEN_AND_CLOSE,
}


# ---- a session -----------------------------------------------------------------------------------------


class SessionState(enum.Enum):
    BEGIN_SENT = "begin sent"  # ours, until the peer's begin answers it
    MAPPED = "mapped"
    ENDED = "ended"


# A begin of the peer's maps a session at once: we answer it in the same breath. Which channel a begin
# may use (a free one, within channel-max) is the connection's rule, not a session's.
SESSION_TRANSITIONS: dict[tuple[SessionState, str], SessionState] = {
    (SessionState.BEGIN_SENT, "begin"): SessionState.MAPPED,  # the peer answered ours
    # Theirs, answered with ours at once. What still arrives on the channel is dropped (the azure-eventhub
    # SDK detaches its links after ending their session), and the channel may be begun again.
    (SessionState.MAPPED, "end"): SessionState.ENDED,
}


# ---- a link --------------------------------------------------------------------------------------------


class LinkState(enum.Enum):
    ATTACHING = "attaching"  # ours until the peer answers, or theirs until the application does
    ATTACHED = "attached"
    DETACHED = "detached"


LINK_TRANSITIONS: dict[tuple[LinkState, str], LinkState] = {
    # The peer attached: the application accepts, or refuses with an attach echoing the terminus and at
    # once a closing detach.
    (LinkState.ATTACHING, "local accept"): LinkState.ATTACHED,
    (LinkState.ATTACHING, "local refuse"): LinkState.DETACHED,
    # We attached: the peer answers. A refusal is an answer too; its detach follows.
    (LinkState.ATTACHING, "attach"): LinkState.ATTACHED,
    # The answer to an attach of ours that we detached before it came: it attaches the link all the same
    # (and the peer's detach that follows is answered again). The spec would drop it; kept as it was.
    (LinkState.DETACHED, "attach"): LinkState.ATTACHED,
    # Either side may detach at any time; a detach of the peer's is answered with ours.
    (LinkState.ATTACHING, "local detach"): LinkState.DETACHED,
    (LinkState.ATTACHED, "local detach"): LinkState.DETACHED,
    (LinkState.DETACHED, "local detach"): LinkState.DETACHED,  # said once: a second is a no-op
    (LinkState.ATTACHING, "detach"): LinkState.DETACHED,
    (LinkState.ATTACHED, "detach"): LinkState.DETACHED,
    (LinkState.DETACHED, "detach"): LinkState.DETACHED,  # the answer to ours: the handle is free again
    # An end of the peer's detaches every link of the session.
    (LinkState.ATTACHING, "end"): LinkState.DETACHED,
    (LinkState.ATTACHED, "end"): LinkState.DETACHED,
    (LinkState.DETACHED, "end"): LinkState.DETACHED,
}
