"""emulator.authorization on a clock the test controls: policies, rights, expiry, Entra ID tokens."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from azure.eventhub._pyamqp.utils import generate_sas_token

from emulator.authorization import Authorization
from emulator.config import LISTEN, MANAGE, SEND, NamespaceConfig, load_config
from eventhubs.errors import ResourceLimitError, UnauthorizedError
from eventhubs.jwt import make_unsigned_jwt
from eventhubs.sas import JWT_TOKEN_TYPE, TOKEN_TYPE
from tests.conftest import POLICIES_CONFIG

HOST = "sb://localhost:5672"
NOW = 1_800_000_000


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def config(tmp_path: Path) -> NamespaceConfig:
    path = tmp_path / "ns.toml"
    path.write_text(POLICIES_CONFIG)
    return load_config(path)


def sas(audience: str, name: str, key: str, lifetime: int = 60, now: int = NOW) -> str:
    return generate_sas_token(audience, name, key, now + lifetime)


def test_a_full_rights_key_may_send_and_read(config: NamespaceConfig) -> None:
    auth = Authorization(config, Clock())
    grant = auth.put_token(sas(f"{HOST}/tweets", "RootManageSharedAccessKey", "SAS_KEY_VALUE"), TOKEN_TYPE)
    assert grant.rights == {LISTEN, SEND, MANAGE}
    auth.require("tweets", SEND)
    auth.require("tweets/consumergroups/$Default", LISTEN)
    with pytest.raises(UnauthorizedError, match="send a valid token"):
        auth.require("telemetry", SEND)


def test_a_listen_only_key_cannot_send_in_the_services_words(config: NamespaceConfig) -> None:
    auth = Authorization(config, Clock())
    auth.put_token(sas(f"{HOST}/", "listen-only", "listen-key"), TOKEN_TYPE, f"{HOST}/tweets")
    auth.require("tweets/consumergroups/$default", LISTEN)
    with pytest.raises(UnauthorizedError) as info:
        auth.require("tweets", SEND)
    assert info.value.condition == "amqp:unauthorized-access"
    assert info.value.description == (
        "Unauthorized access. 'Send' claim(s) are required to perform this operation. "
        "Resource: 'sb://localhost/tweets'."
    )


def test_a_send_only_key_cannot_read(config: NamespaceConfig) -> None:
    auth = Authorization(config, Clock())
    auth.put_token(sas(f"{HOST}/tweets", "send-only", "send-key"), TOKEN_TYPE)
    auth.require("tweets", SEND)
    with pytest.raises(UnauthorizedError, match="'Listen' claim"):
        auth.require("tweets/consumergroups/$Default", LISTEN)


def test_the_secondary_key_is_accepted(config: NamespaceConfig) -> None:
    auth = Authorization(config, Clock())
    auth.put_token(sas(f"{HOST}/tweets", "listen-only", "listen-key-2"), TOKEN_TYPE)
    assert auth.covers("tweets", LISTEN)
    with pytest.raises(UnauthorizedError, match="signature does not match"):
        auth.put_token(sas(f"{HOST}/tweets", "listen-only", "wrong"), TOKEN_TYPE)


def test_a_hub_policy_covers_only_its_hub(config: NamespaceConfig) -> None:
    auth = Authorization(config, Clock())
    auth.put_token(sas(f"{HOST}/tweets", "tweets-send", "tweets-key"), TOKEN_TYPE)
    assert auth.covers("tweets", SEND)
    for audience in (f"{HOST}/telemetry", f"{HOST}/"):
        with pytest.raises(UnauthorizedError, match="unknown shared access key name 'tweets-send'"):
            auth.put_token(sas(audience, "tweets-send", "tweets-key"), TOKEN_TYPE)


def test_an_expired_grant_covers_nothing_and_a_fresh_one_renews(config: NamespaceConfig) -> None:
    clock = Clock()
    auth = Authorization(config, clock)
    auth.put_token(sas(f"{HOST}/tweets", "send-only", "send-key", lifetime=10), TOKEN_TYPE)
    assert auth.expiry("tweets", SEND) == NOW + 10
    clock.now = NOW + 9
    auth.put_token(sas(f"{HOST}/tweets", "send-only", "send-key", lifetime=10, now=NOW + 9), TOKEN_TYPE)
    clock.now = NOW + 12
    assert auth.covers("tweets", SEND)
    clock.now = NOW + 19
    with pytest.raises(UnauthorizedError, match="expired and no new one was put"):
        auth.require("tweets", SEND)
    assert len(auth.grants) == 2  # expired grants are pruned when the next token arrives


def jwt(**claims: object) -> str:
    base = {"aud": "https://eventhubs.azure.net", "exp": NOW + 3600, "oid": "principal-1"}
    return make_unsigned_jwt({**base, **claims})


def test_jwt_is_refused_unless_entra_id_is_on(config: NamespaceConfig) -> None:
    auth = Authorization(config, Clock())
    with pytest.raises(UnauthorizedError, match="--entra-id"):
        auth.put_token(jwt(), JWT_TOKEN_TYPE, f"{HOST}/tweets")


@pytest.mark.parametrize(
    ("roles", "may_send", "may_listen"),
    [
        (None, True, True),
        (["Azure Event Hubs Data Owner"], True, True),
        (["Azure Event Hubs Data Sender"], True, False),
        (["a638d3c7-ab3a-418d-83e6-5f17a39d4fde"], False, True),  # Data Receiver's role definition id
        (["Reader"], False, False),
    ],
)
def test_jwt_roles_decide_the_rights(
    config: NamespaceConfig, roles: list[str] | None, may_send: bool, may_listen: bool
) -> None:
    auth = Authorization(dataclasses.replace(config, entra_id=True), Clock())
    token = jwt(roles=roles) if roles is not None else jwt()
    grant = auth.put_token(token, JWT_TOKEN_TYPE, f"{HOST}/tweets")
    assert grant.expires_at == NOW + 3600 and grant.who == "Entra ID principal principal-1"
    assert auth.covers("tweets", SEND) is may_send
    assert auth.covers("tweets/consumergroups/$Default", LISTEN) is may_listen


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("not-a-jwt", "3"),
        ("e30.e30.", "no 'alg'"),
        (jwt(exp=NOW - 1), "expired"),
        (jwt(exp="soon"), "numeric 'exp'"),
        (jwt(nbf=NOW + 3600), "not valid before"),
        (jwt(aud="https://storage.azure.com"), "audience"),
        (jwt(aud="https://eventhubs.azure.net/other"), "audience"),
        (jwt(roles="Owner"), "array of strings"),
    ],
)
def test_malformed_or_foreign_jwts_are_refused(config: NamespaceConfig, token: str, message: str) -> None:
    auth = Authorization(dataclasses.replace(config, entra_id=True), Clock())
    with pytest.raises(UnauthorizedError, match=message):
        auth.put_token(token, JWT_TOKEN_TYPE, f"{HOST}/tweets")


@pytest.mark.parametrize(
    "aud",
    [
        "https://eventhubs.azure.net/",
        "https://eventhubs.azure.net",
        "https://my-ns.servicebus.windows.net",
        "https://localhost",  # the namespace host the client connected to
        ["https://other.example", "https://eventhubs.azure.net/"],
    ],
)
def test_audiences_event_hubs_accepts(config: NamespaceConfig, aud: object) -> None:
    auth = Authorization(dataclasses.replace(config, entra_id=True), Clock())
    auth.put_token(jwt(aud=aud), JWT_TOKEN_TYPE, f"{HOST}/tweets")
    assert auth.covers("tweets", SEND)


def test_superseded_and_expired_tokens_are_dropped(config: NamespaceConfig) -> None:
    clock = Clock()
    auth = Authorization(config, clock)
    root = ("RootManageSharedAccessKey", "SAS_KEY_VALUE")
    for lifetime in range(60, 60 + 5000):  # a client renewing its token in a loop: never refused
        auth.put_token(sas(f"{HOST}/tweets", *root, lifetime), TOKEN_TYPE)
        assert len(auth.grants) <= auth.max_grants == 100
    auth.put_token(sas(f"{HOST}/telemetry", *root, 10), TOKEN_TYPE)
    clock.now += 5100  # every grant has expired
    auth.put_token(sas(f"{HOST}/tweets", "send-only", "send-key", 60, now=NOW + 5100), TOKEN_TYPE)
    assert [g.audience for g in auth.grants] == [f"{HOST}/tweets"]


def test_tokens_kept_per_connection_are_capped_with_a_named_refusal(config: NamespaceConfig) -> None:
    auth = Authorization(config, Clock(), max_grants=10)
    for i in range(10):
        auth.put_token(sas(f"{HOST}/tweets/{i}", "RootManageSharedAccessKey", "SAS_KEY_VALUE"), TOKEN_TYPE)
    with pytest.raises(ResourceLimitError, match="max_tokens_per_connection = 10") as info:
        auth.put_token(sas(f"{HOST}/telemetry", "RootManageSharedAccessKey", "SAS_KEY_VALUE"), TOKEN_TYPE)
    assert info.value.condition == "amqp:resource-limit-exceeded"
    assert len(auth.grants) == 10
    # A token that supersedes one it holds is still taken.
    auth.put_token(sas(f"{HOST}/tweets/3", "RootManageSharedAccessKey", "SAS_KEY_VALUE", 120), TOKEN_TYPE)
    assert len(auth.grants) == 10
    with pytest.raises(UnauthorizedError):  # a wrong key is refused and keeps nothing
        auth.put_token(sas(f"{HOST}/telemetry", "RootManageSharedAccessKey", "wrong"), TOKEN_TYPE)
    assert len(auth.grants) == 10
