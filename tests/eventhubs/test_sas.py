"""Tests for eventhubs.sas against tokens made by the installed azure-eventhub SDK."""

from __future__ import annotations

from urllib.parse import quote, unquote

import pytest
from azure.eventhub import EventHubConsumerClient, EventHubProducerClient
from azure.eventhub._client_base import EventHubSharedKeyCredential
from azure.eventhub._pyamqp.utils import generate_sas_token
from hypothesis import given
from hypothesis import strategies as st

from eventhubs.errors import UnauthorizedError as AuthError
from eventhubs.sas import Claim, audience_covers, make_sas_token, validate_sas_token

KEY_NAME = "RootManageSharedAccessKey"
KEY = "SAS_KEY_VALUE"
KEYS = {KEY_NAME: KEY, "listen": "another-key"}
NOW = 1_700_000_000.0
LATER = int(NOW) + 3600
HUB = "sb://localhost:5672/tweets"
CONSUMER = "sb://localhost:5672/tweets/consumergroups/$Default"
CONN_STR = (
    f"Endpoint=sb://localhost:5672;SharedAccessKeyName={KEY_NAME};SharedAccessKey={KEY};"
    "UseDevelopmentEmulator=true"
)


def field(token: str, name: str) -> str:
    for part in token.removeprefix("SharedAccessSignature ").split("&"):
        key, _, value = part.partition("=")
        if key == name:
            return value
    raise AssertionError(f"no {name} in {token}")


def replace_field(token: str, name: str, value: str) -> str:
    return token.replace(f"{name}={field(token, name)}", f"{name}={value}")


def refused(token: str, audience: str = HUB, keys: dict[str, str] = KEYS, now: float = NOW) -> AuthError:
    with pytest.raises(AuthError) as info:
        validate_sas_token(token, audience, keys, now)
    error = info.value
    assert error.status_code == 401
    assert str(error) == error.description
    # Refusals are sent back to the client: they must not echo a key or a whole signature.
    for secret in keys.values():
        assert secret not in error.description
    sig = field(token, "sig") if "sig=" in token else ""
    if len(sig) >= 8:  # the malformed cases use one-letter placeholders that any sentence contains
        assert sig not in error.description
        assert unquote(sig) not in error.description
    return error


# --- tokens the SDK makes -------------------------------------------------------------------


def test_sdk_generated_token_validates() -> None:
    token = generate_sas_token(HUB, KEY_NAME, KEY, LATER)
    claim = validate_sas_token(token, HUB, KEYS, NOW)
    assert claim == Claim(audience=HUB, key_name=KEY_NAME, expires_at=LATER)


def test_make_sas_token_matches_sdk_byte_for_byte() -> None:
    for audience in (HUB, CONSUMER, "sb://localhost:5672/"):
        assert make_sas_token(audience, KEY_NAME, KEY, LATER) == generate_sas_token(
            audience, KEY_NAME, KEY, LATER
        )


def test_sdk_shared_key_credential_token_validates() -> None:
    credential = EventHubSharedKeyCredential(KEY_NAME, KEY)
    access = credential.get_token(CONSUMER)
    claim = validate_sas_token(access.token, CONSUMER, KEYS, NOW)
    assert claim.audience == CONSUMER
    assert claim.expires_at == access.expires_on


def test_sdk_producer_and_consumer_from_connection_string() -> None:
    # The audience and token the SDK itself would put to $cbs, built the way it builds them.
    producer = EventHubProducerClient.from_connection_string(CONN_STR, eventhub_name="tweets")
    consumer = EventHubConsumerClient.from_connection_string(
        CONN_STR, consumer_group="$Default", eventhub_name="tweets"
    )
    try:
        for client in (producer, consumer):
            audience = client._auth_uri
            token = client._credential.get_token(audience).token
            claim = validate_sas_token(token, audience, KEYS, NOW)
            assert claim.key_name == KEY_NAME
        assert consumer._auth_uri == CONSUMER
        assert producer._auth_uri == HUB
    finally:
        producer.close()
        consumer.close()


def test_sdk_double_encoded_key_name() -> None:
    # The SDK quote_plus-es the key name and then urlencodes it again: 'send key' arrives as 'send%2Bkey'.
    token = generate_sas_token(HUB, "send key", "k1", LATER)
    assert field(token, "skn") == "send%2Bkey"
    claim = validate_sas_token(token, HUB, {"send key": "k1"}, NOW)
    assert claim.key_name == "send key"


def test_fields_in_any_order_and_raw_plus_in_signature() -> None:
    token = make_sas_token(HUB, KEY_NAME, KEY, LATER)
    fields = token.removeprefix("SharedAccessSignature ").split("&")
    reordered = "SharedAccessSignature " + "&".join(reversed(fields))
    assert validate_sas_token(reordered, HUB, KEYS, NOW).audience == HUB
    # A client that does not URL-encode the signature leaves '+' and '/' raw.
    raw_sig = replace_field(token, "sig", unquote(field(token, "sig")))
    assert validate_sas_token(raw_sig, HUB, KEYS, NOW).audience == HUB


def test_signature_over_sr_as_sent() -> None:
    # Other SDKs encode the audience differently (here: '$' kept, ':' and '/' escaped by quote).
    import base64
    import hashlib
    import hmac

    sr = quote(CONSUMER, safe="$")
    sig = base64.b64encode(
        hmac.new(KEY.encode(), f"{sr}\n{LATER}".encode(), hashlib.sha256).digest()
    ).decode()
    token = f"SharedAccessSignature sr={sr}&sig={quote(sig, safe='')}&se={LATER}&skn={KEY_NAME}"
    assert validate_sas_token(token, CONSUMER, KEYS, NOW).audience == CONSUMER


def test_namespace_token_covers_consumer_group() -> None:
    token = make_sas_token("sb://localhost:5672/", KEY_NAME, KEY, LATER)
    claim = validate_sas_token(token, CONSUMER, KEYS, NOW)
    assert claim.audience == "sb://localhost:5672/"


def test_hub_token_covers_consumer_group() -> None:
    token = make_sas_token(HUB, KEY_NAME, KEY, LATER)
    assert validate_sas_token(token, CONSUMER, KEYS, NOW).audience == HUB


@given(
    audience=st.builds(
        "sb://{}:{}/{}".format,
        st.from_regex(r"[a-z][a-z0-9.-]{0,20}", fullmatch=True),
        st.integers(1, 65535),
        st.from_regex(
            r"[A-Za-z0-9][A-Za-z0-9._-]{0,30}(/consumergroups/\$?[A-Za-z0-9_]{1,10})?", fullmatch=True
        ),
    ),
    key_name=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._ +-]{0,20}", fullmatch=True),
    key=st.text(min_size=1, max_size=60),
    expires_at=st.integers(int(NOW) + 1, 2**40),
)
def test_any_sdk_token_round_trips(audience: str, key_name: str, key: str, expires_at: int) -> None:
    token = generate_sas_token(audience, key_name, key, expires_at)
    claim = validate_sas_token(token, audience, {key_name: key}, NOW)
    assert claim == Claim(audience=audience, key_name=key_name, expires_at=expires_at)


# --- refusals ----------------------------------------------------------------------------------


def test_tampered_signature() -> None:
    token = generate_sas_token(HUB, KEY_NAME, KEY, LATER)
    sig = unquote(field(token, "sig"))
    flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
    error = refused(replace_field(token, "sig", quote(flipped, safe="")))
    assert error.description.startswith(
        f"token signature does not match key {KEY_NAME!r} for audience {HUB!r}"
    )


def test_extended_expiry_breaks_signature() -> None:
    token = generate_sas_token(HUB, KEY_NAME, KEY, LATER)
    error = refused(replace_field(token, "se", str(LATER + 86400)))
    assert "token signature does not match" in error.description


def test_changed_audience_breaks_signature() -> None:
    token = generate_sas_token(HUB, KEY_NAME, KEY, LATER)
    other = "sb://localhost:5672/"
    error = refused(replace_field(token, "sr", quote(other, safe="")), audience=CONSUMER)
    assert "token signature does not match" in error.description


def test_wrong_key_value() -> None:
    token = generate_sas_token(HUB, KEY_NAME, "not-the-key", LATER)
    error = refused(token)
    assert "does not match key 'RootManageSharedAccessKey'" in error.description


def test_signed_with_another_keys_secret() -> None:
    token = generate_sas_token(HUB, "listen", KEY, LATER)
    assert "does not match key 'listen'" in refused(token).description


def test_unknown_key_name() -> None:
    token = generate_sas_token(HUB, "SendOnly", KEY, LATER)
    error = refused(token)
    assert error.description == (
        "unknown shared access key name 'SendOnly'; use a key name from the emulator's [keys] config"
    )


def test_expired() -> None:
    token = generate_sas_token(HUB, KEY_NAME, KEY, int(NOW) - 10)
    error = refused(token)
    assert error.description.startswith(
        "token expired at 2023-11-14T22:13:10Z (emulator time is 2023-11-14T22:13:20Z)"
    )


def test_expires_exactly_now_is_expired() -> None:
    token = generate_sas_token(HUB, KEY_NAME, KEY, int(NOW))
    assert "token expired" in refused(token).description
    assert validate_sas_token(token, HUB, KEYS, NOW - 0.5).expires_at == int(NOW)


def test_wrong_audience_other_hub() -> None:
    token = generate_sas_token(HUB, KEY_NAME, KEY, LATER)
    error = refused(token, audience="sb://localhost:5672/telemetry")
    assert error.description.startswith(
        "token audience 'sb://localhost:5672/tweets' does not cover 'sb://localhost:5672/telemetry'"
    )


def test_wrong_audience_prefix_is_not_enough() -> None:
    token = generate_sas_token(HUB, KEY_NAME, KEY, LATER)
    assert "does not cover" in refused(token, audience="sb://localhost:5672/tweets2").description


def test_consumer_group_token_does_not_cover_hub() -> None:
    token = generate_sas_token(CONSUMER, KEY_NAME, KEY, LATER)
    assert "does not cover" in refused(token, audience=HUB).description


def test_wrong_audience_other_host() -> None:
    token = generate_sas_token("sb://otherhost:5672/tweets", KEY_NAME, KEY, LATER)
    assert "does not cover" in refused(token).description


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("", "token does not start with 'SharedAccessSignature'"),
        ("Bearer abc.def", "token does not start with 'SharedAccessSignature'"),
        ("sharedaccesssignature sr=a&sig=b&se=1&skn=c", "token does not start with 'SharedAccessSignature'"),
        ("SharedAccessSignature ", "token is missing field(s) sr, sig, se, skn"),
        (f"SharedAccessSignature sr={HUB}&sig=abc&se={LATER}", "token is missing field(s) skn"),
        (f"SharedAccessSignature sr={HUB}&sig=&se={LATER}&skn=x", "token is missing field(s) sig"),
        (
            f"SharedAccessSignature sr={HUB}&sig=abc&se=soon&skn=x",
            "token expiry se='soon' is not a whole number",
        ),
        (f"SharedAccessSignature sr={HUB}&sig=abc&se=-5&skn=x", "token expiry se='-5' is not a whole number"),
        (f"SharedAccessSignature sr={HUB}&sig=a&sig=b&se=1&skn=x", "token has field 'sig' more than once"),
        (f"SharedAccessSignature sr={HUB}&sigabc&se=1&skn=x", "token field 'sigabc' has no '=value'"),
    ],
)
def test_malformed(token: str, expected: str) -> None:
    assert refused(token).description.startswith(expected)


# --- audience_covers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claim", "resource"),
    [
        (HUB, HUB),
        (HUB, HUB + "/"),
        (HUB + "/", HUB),
        (HUB, CONSUMER),
        ("sb://localhost:5672", CONSUMER),
        ("sb://localhost:5672/", HUB),
        ("amqps://LOCALHOST:5672/tweets", HUB),
        ("SB://localhost:5672/tweets", "amqp://localhost:5672/tweets/Partitions/0"),
        (
            "sb://localhost:5672/tweets/consumergroups/$Default",
            "sb://localhost:5672/tweets/consumergroups/%24Default",
        ),
        # The SDK's AMQP open frame names 'localhost' without the port its tokens carry.
        (HUB, "sb://localhost/tweets"),
        ("sb://localhost/tweets", HUB),
        ("sb://[::1]:5672/tweets", "sb://[::1]/tweets"),
    ],
)
def test_audience_covers(claim: str, resource: str) -> None:
    assert audience_covers(claim, resource)


@pytest.mark.parametrize(
    ("claim", "resource"),
    [
        (HUB, "sb://localhost:5672/telemetry"),
        (HUB, "sb://localhost:5672/tweets2"),
        (HUB, "sb://localhost:5672/"),
        (CONSUMER, HUB),
        (HUB, "sb://localhost:5673/tweets"),
        (HUB, "sb://localhost:notaport/tweets"),
        ("sb://[::1]:5672/tweets", "sb://[::2]:5672/tweets"),
        (HUB, "sb://otherhost:5672/tweets"),
        (HUB, "sb://localhost:5672/tweets/../telemetry"),
        (HUB, "sb://localhost:5672/tweets/%2E%2E/telemetry"),
        ("https://localhost:5672/tweets", HUB),
        (HUB, "tweets"),
        ("", HUB),
        (HUB, ""),
        ("sb:///tweets", "sb:///tweets"),
    ],
)
def test_audience_does_not_cover(claim: str, resource: str) -> None:
    assert not audience_covers(claim, resource)
