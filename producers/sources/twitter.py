"""Tweets matching a search query, from the X API v2 through tweepy, as JSON events.

v1.1 search is gone and v2 filtered streaming needs a paid tier, so this polls recent search
(`GET /2/tweets/search/recent`, the last 7 days), passing the newest id seen as `since_id` so a tweet
is sent once. Each body is `{"id", "text", "author_id", "created_at", "lang"}`; ids stay strings, as
X sends them, because they exceed what a JSON double holds exactly.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC
from typing import Any

import tweepy

from producers.events import Event

DEFAULT_QUERY = "#Azure -is:retweet lang:en"
DEFAULT_TOKEN_VARIABLE = "X_BEARER_TOKEN"
# X's limits for recent search: max_results outside 10..100 is a 400 from the API.
MIN_RESULTS_PER_PAGE = 10
MAX_RESULTS_PER_PAGE = 100
TWEET_FIELDS = ["author_id", "created_at", "lang"]
TOKEN_HELP = (
    "get one at https://developer.x.com (Developer Portal > Projects & Apps > your app > "
    "Keys and tokens > Bearer Token)"
)

log = logging.getLogger(__name__)


class MissingBearerToken(ValueError):
    """No bearer token was configured."""


class BearerTokenRefused(RuntimeError):
    """X answered 401 or 403: the token is wrong, or its app may not use recent search."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def bearer_token_from_env(environ: Mapping[str, str], variable: str = DEFAULT_TOKEN_VARIABLE) -> str:
    """The X API bearer token from `environ[variable]`, surrounding whitespace stripped."""
    token = environ.get(variable, "").strip()
    if not token:
        state = "is empty" if variable in environ else "is not set"
        raise MissingBearerToken(f"{variable} {state}: set it to your X app's Bearer Token ({TOKEN_HELP})")
    return token


def tweets(
    *,
    bearer_token: str,
    query: str = DEFAULT_QUERY,
    poll_interval_s: float = 30.0,
    max_results: int = 100,
    since_id: str | None = None,
    client: tweepy.Client | None = None,
    stop: threading.Event | None = None,
    sleep: Callable[[float], None] | None = None,
) -> Iterator[Event]:
    """Endless: poll recent search every `poll_interval_s`, yielding each poll's new tweets oldest first.

    `client` replaces the default `tweepy.Client(bearer_token, wait_on_rate_limit=True)` (keep its
    default return type; without `wait_on_rate_limit` a 429 raises `tweepy.TooManyRequests`).
    Between polls the generator waits with `sleep` if given, else `stop.wait`, else `time.sleep`;
    it returns once `stop` is set, checked before every poll. The first poll without `since_id`
    pages through everything the last 7 days hold for `query`, which counts against the app's cap.
    Raises `BearerTokenRefused` on 401/403; network errors propagate as `requests` exceptions.
    """
    # Checked here, not in the generator, so a bad argument fails at the call, not at the first next().
    if not query.strip():
        raise ValueError(f"query must not be blank, got {query!r}; the default is {DEFAULT_QUERY!r}")
    if not MIN_RESULTS_PER_PAGE <= max_results <= MAX_RESULTS_PER_PAGE:
        raise ValueError(
            f"max_results must be between {MIN_RESULTS_PER_PAGE} and {MAX_RESULTS_PER_PAGE} "
            f"(X's limits for recent search), got {max_results}"
        )
    if poll_interval_s < 0:
        raise ValueError(f"poll_interval_s must be 0 or more seconds, got {poll_interval_s}")
    if since_id is not None and not since_id.isdigit():
        raise ValueError(f"since_id must be a tweet id (decimal digits), got {since_id!r}")
    owns_client = client is None
    if client is None:
        if not bearer_token.strip():
            raise MissingBearerToken(f"bearer_token is empty: pass your X app's Bearer Token ({TOKEN_HELP})")
        client = tweepy.Client(bearer_token, wait_on_rate_limit=True)
    pause: Callable[[float], object]
    if sleep is not None:
        pause = sleep
    elif stop is not None:
        pause = stop.wait  # wakes as soon as stop is set
    else:
        pause = time.sleep
    return _poll(client, owns_client, query, max_results, since_id, poll_interval_s, stop, pause)


def _poll(
    client: Any,
    owns_client: bool,
    query: str,
    max_results: int,
    since_id: str | None,
    poll_interval_s: float,
    stop: threading.Event | None,
    pause: Callable[[float], object],
) -> Iterator[Event]:
    try:
        while stop is None or not stop.is_set():
            found = _search(client, query, max_results, since_id)
            log.debug("recent search since_id=%s: %d new tweets", since_id, len(found))
            if found:
                since_id = found[-1].data["id"]
            for tweet in found:
                yield _event(tweet)
            if stop is not None and stop.is_set():
                return
            pause(poll_interval_s)
    finally:
        if owns_client:
            client.session.close()


def _search(client: Any, query: str, max_results: int, since_id: str | None) -> list[Any]:
    """All pages of one poll, oldest first (the API answers newest first)."""
    pages = tweepy.Paginator(
        client.search_recent_tweets,
        query=query,
        max_results=max_results,
        since_id=since_id,
        tweet_fields=TWEET_FIELDS,
    )
    by_id: dict[int, Any] = {}
    try:
        for page in pages:
            for tweet in page.data or ():
                by_id[tweet.id] = tweet  # keyed by id: a tweet repeated across pages is sent once
    except tweepy.Unauthorized as error:
        raise BearerTokenRefused(
            "X refused the bearer token (401 Unauthorized): it is wrong, revoked or was regenerated; "
            f"copy the app's current Bearer Token ({TOKEN_HELP}). X said: "
            f"{_said(error, client.bearer_token)}",
            401,
        ) from error
    except tweepy.Forbidden as error:
        raise BearerTokenRefused(
            "X refused the bearer token for recent search (403 Forbidden): the token is valid but the "
            "app's access level does not include GET /2/tweets/search/recent, or the app is not in a "
            "Project; check the app's project and access level at https://developer.x.com. X said: "
            f"{_said(error, client.bearer_token)}",
            403,
        ) from error
    return [by_id[tweet_id] for tweet_id in sorted(by_id)]


def _said(error: Any, token: str | None) -> str:
    """The API's own error text, with the token blanked in case an error ever echoes it."""
    text = "; ".join(error.api_messages) or str(error)
    return text.replace(token, "<redacted>") if token else text


def _event(tweet: Any) -> Event:
    created_at = tweet.created_at
    body = {
        "id": tweet.data["id"],
        "text": tweet.text,
        "author_id": tweet.data.get("author_id"),
        "created_at": (
            created_at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            if created_at is not None
            else None
        ),
        "lang": tweet.lang,
    }
    return Event(json.dumps(body, ensure_ascii=False, separators=(",", ":")))


_BEARER = re.compile(r"(Bearer\s+)[^\s'\"]+")


class _RedactBearer(logging.Filter):
    """tweepy's DEBUG log prints request headers, bearer token included: blank it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "Bearer" in message:
            record.msg, record.args = _BEARER.sub(r"\1<redacted>", message), ()
        return True


_tweepy_log = logging.getLogger("tweepy.client")
if not any(isinstance(f, _RedactBearer) for f in _tweepy_log.filters):
    _tweepy_log.addFilter(_RedactBearer())
