"""Tests for producers.sources.twitter against a local fake of X's recent-search endpoint.

tweepy's own code runs (request building, Paginator, wait_on_rate_limit); only the host changes, by a
transport adapter on the client's session that sends `https://api.twitter.com/...` to the fake.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import tweepy
from requests.adapters import HTTPAdapter

from emulator.process import EmulatorProcess
from producers.events import Event
from producers.sender import LoopOptions, Sender
from producers.sources import twitter
from producers.sources.twitter import (
    DEFAULT_QUERY,
    BearerTokenRefused,
    MissingBearerToken,
    bearer_token_from_env,
    tweets,
)
from tests.sdk_events import producer, read_events

TOKEN = "AAAAAAAAAAAAAAAAAAAAAFakeBearer%2Btoken%3Dsecret123"
SEARCH_PATH = "/2/tweets/search/recent"
# Above 2**53, as real ids are: they must stay exact (strings) end to end.
FIRST_ID = 1_850_000_000_000_000_000
START = datetime(2025, 1, 1, tzinfo=UTC)


def make_tweet(n: int) -> dict[str, str]:
    created = START + timedelta(seconds=n)
    return {
        "id": str(FIRST_ID + n),
        "text": f"tweet {n} about #Azure ☁️ — déjà vu",
        "author_id": str(4_000_000_000 + n % 7),
        "created_at": created.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "lang": "en",
    }


@dataclass
class FakeX:
    """What the fake API holds and what it was asked."""

    token: str = TOKEN
    tweets: list[dict[str, str]] = field(default_factory=list)
    asked: list[dict[str, str]] = field(default_factory=list)  # each request's query params, plus "status"
    rate_limit_next: int = 0  # answer that many requests with 429
    forbidden: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    base_url: str = ""

    def add(self, numbers: range) -> None:
        with self.lock:
            self.tweets.extend(make_tweet(n) for n in numbers)

    def answer(self, path: str, authorization: str | None) -> tuple[int, dict[str, str], dict[str, Any]]:
        url = urlsplit(path)
        params = {key: values[-1] for key, values in parse_qs(url.query).items()}
        with self.lock:
            status, headers, body = self._answer(url.path, params, authorization)
            self.asked.append({**params, "status": str(status)})
        return status, headers, body

    def _answer(
        self, path: str, params: dict[str, str], authorization: str | None
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        if path != SEARCH_PATH:
            return 404, {}, problem(404, "Not Found")
        if authorization != f"Bearer {self.token}":
            return 401, {}, problem(401, "Unauthorized")
        if self.forbidden:
            body = problem(403, "Client Forbidden")
            body["detail"] = "This app's access level does not include this endpoint."
            return 403, {}, body
        if self.rate_limit_next:
            self.rate_limit_next -= 1
            reset = str(int(time.time()) + 1)
            return (
                429,
                {"x-rate-limit-remaining": "0", "x-rate-limit-reset": reset},
                problem(429, "Too Many Requests"),
            )
        max_results = int(params.get("max_results", "10"))
        if not 10 <= max_results <= 100 or not params.get("query"):
            return 400, {}, problem(400, "Invalid Request")
        since_id = int(params.get("since_id", "0"))
        # next_token names the id to continue below, so pages stay stable while tweets arrive.
        until_id = int(params["next_token"][1:]) if "next_token" in params else None
        matching = sorted(
            (
                t
                for t in self.tweets
                if int(t["id"]) > since_id and (until_id is None or int(t["id"]) < until_id)
            ),
            key=lambda t: int(t["id"]),
            reverse=True,
        )
        if not matching:
            return 200, {}, {"meta": {"result_count": 0}}
        page = matching[:max_results]
        fields = set(params.get("tweet.fields", "").split(","))
        data = [
            {
                "edit_history_tweet_ids": [t["id"]],
                **{k: v for k, v in t.items() if k in fields | {"id", "text"}},
            }
            for t in page
        ]
        meta: dict[str, Any] = {
            "newest_id": page[0]["id"],
            "oldest_id": page[-1]["id"],
            "result_count": len(page),
        }
        if len(matching) > max_results:
            meta["next_token"] = f"b{page[-1]['id']}"
        return 200, {}, {"data": data, "meta": meta}


def problem(status: int, title: str) -> dict[str, Any]:
    return {"title": title, "detail": title, "type": "about:blank", "status": status}


@pytest.fixture
def fake_x() -> Iterator[FakeX]:
    fake = FakeX()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, headers, body = fake.answer(self.path, self.headers.get("Authorization"))
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep pytest output to the failures

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class Redirect(HTTPAdapter):
    """Sends https://api.twitter.com/... to `base_url` instead."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        assert request.url is not None
        request.url = request.url.replace("https://api.twitter.com", self.base_url, 1)
        kwargs["proxies"] = {}  # a proxy from the environment must not catch the local fake
        return super().send(request, *args, **kwargs)


def redirected(client: Any, base_url: str) -> Any:
    client.session.mount("https://api.twitter.com/", Redirect(base_url))
    return client


def client_for(fake: FakeX, token: str = TOKEN) -> Any:
    return redirected(tweepy.Client(token, wait_on_rate_limit=True), fake.base_url)


class Polls:
    """`stop` and `sleep` for the source: `count` polls, `between(poll)` in each gap, no real waiting."""

    def __init__(self, count: int, between: Callable[[int], None] = lambda poll: None) -> None:
        self.count = count
        self.between = between
        self.done = 0
        self.stop = threading.Event()

    def sleep(self, seconds: float) -> None:
        self.done += 1
        if self.done >= self.count:
            self.stop.set()
        else:
            self.between(self.done)


def run(count: int = 1, between: Callable[[int], None] = lambda poll: None, **kwargs: Any) -> list[Event]:
    """Every event of `count` polls of `tweets(bearer_token=TOKEN, **kwargs)`."""
    polls = Polls(count, between)
    return list(tweets(bearer_token=TOKEN, stop=polls.stop, sleep=polls.sleep, **kwargs))


def bodies(events: list[Event]) -> list[dict[str, Any]]:
    return [json.loads(event.body) for event in events]


def test_one_poll_pages_oldest_first_with_the_right_json(fake_x: FakeX) -> None:
    fake_x.add(range(250))
    events = run(client=client_for(fake_x), max_results=100)

    assert [body["id"] for body in bodies(events)] == [str(FIRST_ID + n) for n in range(250)]
    first = events[0]
    expected = {
        "id": str(FIRST_ID),
        "text": "tweet 0 about #Azure ☁️ — déjà vu",
        "author_id": "4000000000",
        "created_at": "2025-01-01T00:00:00.000Z",
        "lang": "en",
    }
    # Compact, and UTF-8 text as is rather than \u escapes.
    assert first.body == json.dumps(expected, ensure_ascii=False, separators=(",", ":"))
    assert isinstance(first.body, str)
    assert first.partition_key is None
    assert first.properties is None
    assert bodies(events)[-1]["created_at"] == "2025-01-01T00:04:09.000Z"

    assert [r["status"] for r in fake_x.asked] == ["200"] * 3
    assert "next_token" not in fake_x.asked[0]
    assert all("next_token" in r for r in fake_x.asked[1:])
    for request in fake_x.asked:
        assert request["query"] == DEFAULT_QUERY
        assert request["max_results"] == "100"
        assert request["tweet.fields"] == "author_id,created_at,lang"
        assert "since_id" not in request


def test_later_polls_yield_only_new_tweets(fake_x: FakeX) -> None:
    fake_x.add(range(30))

    def between(poll: int) -> None:
        if poll == 1:
            fake_x.add(range(30, 45))  # poll 3 finds nothing new: X's empty answer has no "data"

    events = run(3, between, client=client_for(fake_x), max_results=10)

    ids = [int(body["id"]) - FIRST_ID for body in bodies(events)]
    assert ids == list(range(45))  # each once, oldest first within and across polls
    since = [r.get("since_id") for r in fake_x.asked if "next_token" not in r]
    assert since == [None, str(FIRST_ID + 29), str(FIRST_ID + 44)]
    assert len(fake_x.asked) == 3 + 2 + 1


def test_given_since_id_is_sent(fake_x: FakeX) -> None:
    fake_x.add(range(20))
    since = str(FIRST_ID + 14)
    events = run(client=client_for(fake_x), since_id=since)
    assert [body["id"] for body in bodies(events)] == [str(FIRST_ID + n) for n in range(15, 20)]
    assert fake_x.asked[0]["since_id"] == since


def test_rate_limit_is_waited_out(fake_x: FakeX, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default client (wait_on_rate_limit) sleeps until x-rate-limit-reset, then retries."""
    made: list[dict[str, Any]] = []
    real_client = tweepy.Client

    def make_client(*args: Any, **kwargs: Any) -> Any:
        made.append({"args": args, **kwargs})
        return redirected(real_client(*args, **kwargs), fake_x.base_url)

    monkeypatch.setattr(twitter.tweepy, "Client", make_client)
    fake_x.add(range(12))
    fake_x.rate_limit_next = 1

    started = time.monotonic()
    events = run(max_results=10)  # two pages, the first one after the wait
    waited = time.monotonic() - started

    assert made == [{"args": (TOKEN,), "wait_on_rate_limit": True}]
    assert len(events) == 12
    assert [r["status"] for r in fake_x.asked] == ["429", "200", "200"]
    assert 0.9 <= waited < 5


def test_wrong_token_is_refused_without_showing_it(fake_x: FakeX) -> None:
    wrong = "AAAAAAAAAAAAAAAAAAAAAWrongToken%3Dnope"
    with pytest.raises(BearerTokenRefused, match=r"refused the bearer token \(401") as info:
        next(tweets(bearer_token=wrong, client=client_for(fake_x, wrong)))
    assert info.value.status == 401
    assert "developer.x.com" in str(info.value)
    assert_no_secret(info.value, wrong)


def test_forbidden_names_the_access_level(fake_x: FakeX) -> None:
    fake_x.forbidden = True
    with pytest.raises(BearerTokenRefused, match=r"403 Forbidden.*access level") as info:
        next(tweets(bearer_token=TOKEN, client=client_for(fake_x)))
    assert info.value.status == 403
    assert "does not include this endpoint" in str(info.value)  # X's own detail is passed on
    assert_no_secret(info.value, TOKEN)


def assert_no_secret(error: BaseException, token: str) -> None:
    seen: BaseException | None = error
    while seen is not None:
        assert token not in str(seen) and token not in repr(seen)
        seen = seen.__cause__ or seen.__context__


def test_tweepy_debug_log_does_not_show_the_token(fake_x: FakeX, caplog: pytest.LogCaptureFixture) -> None:
    fake_x.add(range(3))
    with caplog.at_level(logging.DEBUG, logger="tweepy"):
        run(client=client_for(fake_x))
    assert "Bearer <redacted>" in caplog.text  # the header is logged, so the filter did run
    assert TOKEN not in caplog.text


def test_network_errors_propagate() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"  # nothing listens once closed
    client = redirected(tweepy.Client(TOKEN, wait_on_rate_limit=True), closed)
    with pytest.raises(requests.ConnectionError) as info:
        next(tweets(bearer_token=TOKEN, client=client))
    assert_no_secret(info.value, TOKEN)


def test_stop_ends_the_generator_between_polls_promptly(fake_x: FakeX) -> None:
    fake_x.add(range(5))
    stop = threading.Event()
    received: list[Any] = []
    source = tweets(bearer_token=TOKEN, client=client_for(fake_x), poll_interval_s=60, stop=stop)
    consumer = threading.Thread(target=lambda: received.extend(source), daemon=True)
    consumer.start()
    deadline = time.monotonic() + 5
    while len(received) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(received) == 5  # the first poll is in; the source now waits out its 60 s

    stopped = time.monotonic()
    stop.set()
    consumer.join(timeout=5)
    assert not consumer.is_alive()
    assert time.monotonic() - stopped < 1
    assert len(fake_x.asked) == 1


def test_stop_set_before_the_first_poll_asks_nothing(fake_x: FakeX) -> None:
    stop = threading.Event()
    stop.set()
    assert list(tweets(bearer_token=TOKEN, client=client_for(fake_x), stop=stop)) == []
    assert fake_x.asked == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_results": 9}, "max_results must be between 10 and 100 .*got 9"),
        ({"max_results": 101}, "max_results must be between 10 and 100 .*got 101"),
        ({"query": "  "}, "query must not be blank, got '  '"),
        ({"poll_interval_s": -1}, "poll_interval_s must be 0 or more seconds, got -1"),
        ({"since_id": "abc"}, "since_id must be a tweet id .*got 'abc'"),
    ],
)
def test_bad_arguments_fail_at_the_call(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tweets(bearer_token=TOKEN, **kwargs)  # no next(): checked before any request


def test_empty_bearer_token_without_client() -> None:
    with pytest.raises(MissingBearerToken, match=r"bearer_token is empty.*developer\.x\.com"):
        tweets(bearer_token="")


def test_bearer_token_from_env() -> None:
    assert bearer_token_from_env({"X_BEARER_TOKEN": f" {TOKEN}\n"}) == TOKEN
    assert bearer_token_from_env({"MY_TOKEN": TOKEN}, "MY_TOKEN") == TOKEN


@pytest.mark.parametrize(
    ("environ", "variable", "message"),
    [
        ({}, "X_BEARER_TOKEN", "X_BEARER_TOKEN is not set"),
        ({"X_BEARER_TOKEN": "  "}, "X_BEARER_TOKEN", "X_BEARER_TOKEN is empty"),
        ({"X_BEARER_TOKEN": TOKEN}, "OTHER_TOKEN", "OTHER_TOKEN is not set"),
    ],
)
def test_missing_bearer_token_names_the_variable(
    environ: dict[str, str], variable: str, message: str
) -> None:
    with pytest.raises(MissingBearerToken, match=message) as info:
        bearer_token_from_env(environ, variable)
    assert "Bearer Token" in str(info.value) and "developer.x.com" in str(info.value)
    assert isinstance(info.value, ValueError)
    assert TOKEN not in str(info.value)


def test_tweets_flow_through_the_sender_into_the_emulator(fake_x: FakeX, emulator: EmulatorProcess) -> None:
    fake_x.add(range(120))
    stop = threading.Event()
    source = tweets(bearer_token=TOKEN, client=client_for(fake_x), poll_interval_s=60, stop=stop)
    with producer(emulator.connection_string) as c:
        stats = Sender(c, LoopOptions(partition_id="2")).send(source, count=120)
    stop.set()
    assert stats.events == 120
    received = read_events(emulator.connection_string, count=120, partition_id="2", starting_position="-1")
    ids = [json.loads(e.body_as_str())["id"] for e in received]
    assert ids == [str(FIRST_ID + n) for n in range(120)]
