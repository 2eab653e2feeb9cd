"""Links per session: handle-max announced and enforced, and a free handle found without a scan (issue 11)."""

from __future__ import annotations

import time

import pytest

from amqp10.connection import NEED_DATA, SENDER, Connection, LinkAttaching, LinkDetached
from amqp10.errors import RemoteProtocolError
from amqp10.frames import AMQP_HEADER, Frame, encode_frame, split_stream
from amqp10.performatives import Attach, Begin, Close, Detach, Open, Source, Target


def opened_server(handle_max: int = 0xFFFF) -> Connection:
    server = Connection("server", handle_max=handle_max)
    server.receive_data(
        AMQP_HEADER
        + encode_frame(0, Open("client", "localhost"))
        + encode_frame(0, Begin(None, 0, 1 << 20, 1 << 20))
    )
    while server.next_event() is not NEED_DATA:
        pass
    return server


def attach(handle: int, name: str | None = None) -> bytes:
    return encode_frame(
        0, Attach(name or f"link-{handle}", handle, SENDER, source=Source("a"), target=Target("b"))
    )


def test_the_handle_max_is_announced() -> None:
    server = Connection("server", handle_max=99)
    server.receive_data(
        AMQP_HEADER + encode_frame(0, Open("client", "localhost")) + encode_frame(0, Begin(None, 0, 10, 10))
    )
    while server.next_event() is not NEED_DATA:
        pass
    begins = [
        f.body
        for f in split_stream(server.data_to_send())[0]
        if isinstance(f, Frame) and isinstance(f.body, Begin)
    ]
    assert begins[0].handle_max == 99


@pytest.mark.parametrize("handle", [100, 0xFFFF, 0xFFFFFFFF])
def test_an_attach_above_handle_max_closes_with_framing_error(handle: int) -> None:
    server = opened_server(handle_max=99)
    server.data_to_send()
    server.receive_data(attach(handle))
    with pytest.raises(RemoteProtocolError, match=f"handle {handle}, above the handle-max 99") as caught:
        server.next_event()
    assert caught.value.condition == "amqp:connection:framing-error"
    closes = [
        f.body
        for f in split_stream(server.data_to_send())[0]
        if isinstance(f, Frame) and isinstance(f.body, Close)
    ]
    assert closes[0].error is not None and closes[0].error.condition == "amqp:connection:framing-error"


def test_forty_thousand_attaches_on_one_session_take_linear_time() -> None:
    count = 40_000
    server = opened_server()
    frames = b"".join(attach(h) for h in range(count))
    started = time.perf_counter()
    server.receive_data(frames)
    links = []
    while (event := server.next_event()) is not NEED_DATA:
        if isinstance(event, LinkAttaching):
            server.accept_attach(event.link)
            links.append(event.link)
    elapsed = time.perf_counter() - started
    print(f"{count} attaches on one session: {elapsed:.2f} s")
    assert len(links) == count
    assert sorted(link.handle for link in links) == list(range(count))
    # The old scan for a free handle made this quadratic: 92 s of CPU for 40,000 links.
    assert elapsed < 20, f"{count} attaches took {elapsed:.1f} s"


def test_freed_handles_are_reused_lowest_first() -> None:
    server = opened_server()
    server.receive_data(b"".join(attach(h) for h in range(5)))
    links = {}
    while (event := server.next_event()) is not NEED_DATA:
        if isinstance(event, LinkAttaching):
            server.accept_attach(event.link)
            links[event.link.remote_handle] = event.link
    assert [links[h].handle for h in range(5)] == [0, 1, 2, 3, 4]
    server.receive_data(encode_frame(0, Detach(3, closed=True)) + encode_frame(0, Detach(1, closed=True)))
    while (event := server.next_event()) is not NEED_DATA:
        assert isinstance(event, LinkDetached)
    server.receive_data(attach(1, "again-1") + attach(3, "again-3") + attach(7, "new-7"))
    handles = []
    while (event := server.next_event()) is not NEED_DATA:
        if isinstance(event, LinkAttaching):
            handles.append(event.link.handle)
    assert handles == [1, 3, 5]
