"""Tests for conf: the shipped profiles, selection, interpolation, secrets, overrides and every error."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from conf import (
    PROFILE_DIR,
    ConnectionString,
    EventHubSettings,
    JobSettings,
    ProducerSettings,
    Secret,
    Settings,
    SettingsError,
    add_settings_arguments,
    available_profiles,
    databricks_secrets,
    load_settings,
    parse_connection_string,
    settings_from_arguments,
)
from eventhubs.connection_string import ConnectionStringError

# A recognisable key: every redaction test asserts it appears nowhere.
KEY = "K3yThatMustNeverLeak+Q=="
AZURE = f"Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey={KEY}"
EMULATOR = (
    "Endpoint=sb://localhost:5672;SharedAccessKeyName=RootManageSharedAccessKey;"
    "SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true"
)
SECRET_REF = ("hubstream", "eventhub-connection-string")


@pytest.fixture(autouse=True)
def _not_on_databricks(monkeypatch: pytest.MonkeyPatch) -> None:
    # databricks_secrets() reads the real environment; keep a developer's shell out of the tests.
    for name in (
        "DATABRICKS_RUNTIME_VERSION",
        "HUBSTREAM_PROFILE",
        "EVENTHUB_CONNECTION_STRING",
        "EVENTHUB_NAME",
    ):
        monkeypatch.delenv(name, raising=False)


def write(tmp_path: Path, text: str, name: str = "profile.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def hub(body: str, connection: str = AZURE) -> str:
    """A profile with an [eventhub] section and whatever else `body` adds."""
    return f'[eventhub]\nname = "tweets"\nconnection_string = "{connection}"\n{body}'


def error_for(profile: str | Path | None, environ: dict[str, str] | None = None, **kwargs: Any) -> str:
    """The SettingsError message for loading `profile`, checked never to hold the key."""
    with pytest.raises(SettingsError) as info:
        load_settings(profile, environ=environ or {}, **kwargs)
    message = str(info.value)
    assert KEY not in message
    assert "K3yThat" not in message
    return message


def local_file(tmp_path: Path, body: str, connection: str = AZURE) -> Path:
    """A profile named local.toml: plain-text keys are allowed there, so other checks can be reached."""
    return write(tmp_path, hub(body, connection), "local.toml")


def error_naming_the_file(tmp_path: Path, body: str) -> str:
    """The SettingsError message for a local.toml holding `body`, checked to name that file."""
    path = local_file(tmp_path, body)
    message = error_for(path)
    assert str(path) in message
    return message


# --- the shipped profiles -------------------------------------------------------------------------------


def test_the_three_profiles_ship_in_conf() -> None:
    assert {"local", "azure", "databricks"} <= set(available_profiles())
    assert (PROFILE_DIR / "local.toml").is_file()


def test_local_profile_is_the_emulator() -> None:
    settings = load_settings("local", environ={})
    assert settings.profile == "local"
    assert settings.path == PROFILE_DIR / "local.toml"
    assert settings.eventhub.name == "tweets"
    assert settings.eventhub.consumer_group == "$Default"
    assert not settings.eventhub.uses_credential
    assert settings.eventhub.connection_string == parse_connection_string(EMULATOR)
    parsed = parse_connection_string(EMULATOR)
    assert (parsed.host, parsed.port, parsed.use_development_emulator) == ("localhost", 5672, True)
    assert settings.job.max_events_per_trigger == 5
    assert settings.producer == ProducerSettings()


def test_local_is_the_default_profile() -> None:
    assert load_settings(environ={}).profile == "local"


def test_azure_profile_takes_the_connection_string_from_the_environment() -> None:
    settings = load_settings("azure", environ={"EVENTHUB_CONNECTION_STRING": AZURE})
    assert settings.profile == "azure"
    assert settings.eventhub.name == "tweets"
    assert settings.eventhub.connection_string is not None
    assert settings.eventhub.connection_string.reveal() == AZURE
    assert settings.eventhub.fully_qualified_namespace is None


def test_azure_profile_hub_name_from_the_environment() -> None:
    settings = load_settings(
        "azure", environ={"EVENTHUB_CONNECTION_STRING": AZURE, "EVENTHUB_NAME": "clicks"}
    )
    assert settings.eventhub.name == "clicks"


def test_azure_profile_without_the_variable_says_how_to_set_it() -> None:
    message = error_for("azure")
    assert "azure.toml" in message and "connection_string" in message
    assert "EVENTHUB_CONNECTION_STRING" in message and "export" in message
    # No ${VAR:-default} hint for a connection string: the default would be a key in plain text.
    assert ":-default" not in message


def test_databricks_profile_reads_the_secret_scope() -> None:
    store = {SECRET_REF: AZURE}
    settings = load_settings("databricks", environ={}, secrets=lambda scope, key: store[(scope, key)])
    assert settings.eventhub.connection_string == parse_connection_string(AZURE)
    assert settings.eventhub.consumer_group == "$Default"
    assert settings.job.use_connector is False


def test_databricks_profile_off_databricks_says_to_override() -> None:
    assert databricks_secrets() is None
    message = error_for("databricks")
    assert "databricks.toml" in message and "connection_string" in message
    assert "{{secrets/hubstream/eventhub-connection-string}}" in message
    assert "Databricks" in message and "EVENTHUB_CONNECTION_STRING" in message


def test_databricks_profile_with_the_override_needs_no_secret_scope() -> None:
    settings = load_settings("databricks", environ={"EVENTHUB_CONNECTION_STRING": AZURE})
    assert settings.eventhub.connection_string == parse_connection_string(AZURE)


def test_a_failing_secret_lookup_names_scope_and_key() -> None:
    def missing(scope: str, key: str) -> str:
        raise KeyError(f"{scope}/{key}")

    message = error_for("databricks", secrets=missing)
    assert "'eventhub-connection-string'" in message and "'hubstream'" in message
    assert "databricks secrets list-secrets hubstream" in message


# --- choosing the profile -------------------------------------------------------------------------------


def test_hubstream_profile_selects_the_profile() -> None:
    environ = {"HUBSTREAM_PROFILE": "azure", "EVENTHUB_CONNECTION_STRING": AZURE}
    assert load_settings(environ=environ).profile == "azure"
    # The argument wins over the variable.
    assert load_settings("local", environ=environ).profile == "local"


def test_a_path_is_a_profile(tmp_path: Path) -> None:
    path = write(tmp_path, '[eventhub]\nname = "orders"\nconnection_string = "${CS}"\n', "mine.toml")
    for given in (str(path), path):
        settings = load_settings(given, environ={"CS": AZURE})
        assert settings.profile == str(path)
        assert settings.path == path
        assert settings.eventhub.name == "orders"


def test_hubstream_profile_may_be_a_path(tmp_path: Path) -> None:
    path = write(tmp_path, hub(""), "local.toml")
    assert load_settings(environ={"HUBSTREAM_PROFILE": str(path)}).path == path


def test_unknown_profile_lists_the_profiles_and_mentions_paths() -> None:
    message = error_for("azuer")
    assert "'azuer'" in message
    assert "azure, databricks, local" in message
    assert "path" in message


def test_a_bad_hubstream_profile_is_blamed_on_the_variable() -> None:
    assert "unknown profile 'prod' (from $HUBSTREAM_PROFILE)" in error_for(
        None, {"HUBSTREAM_PROFILE": "prod"}
    )


def test_a_missing_profile_file_is_named(tmp_path: Path) -> None:
    message = error_for(str(tmp_path / "nope.toml"))
    assert "nope.toml" in message and "does not exist" in message
    # A .toml suffix makes it a path, even without a '/'.
    assert "does not exist" in error_for("nope.toml")


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[eventhub\nname = 1\n")
    message = error_for(path)
    assert str(path) in message and "not valid TOML" in message and "line 1" in message


# --- interpolation ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "environ", "expected"),
    [
        ("${A}", {"A": "x"}, "x"),
        ("<${A}|${B}>", {"A": "1", "B": "2"}, "<1|2>"),
        ("${A:-d}", {}, "d"),
        ("${A:-d}", {"A": ""}, "d"),  # as in the shell: the default also replaces an empty value
        ("${A:-d}", {"A": "set"}, "set"),
        ("${A:-}x", {}, "x"),
        ("cost $$5", {}, "cost $5"),
        ("$${A}", {"A": "x"}, "${A}"),  # $$ escapes a whole reference
        ("$Default", {}, "$Default"),  # a $ not followed by { or $ is literal
        ("${A}", {"A": "${B}"}, "${B}"),  # values are not expanded again
    ],
)
def test_interpolation(tmp_path: Path, text: str, environ: dict[str, str], expected: str) -> None:
    path = local_file(tmp_path, f'[producer]\ntwitter_query = "{text}"\n')
    assert load_settings(path, environ=environ).producer.twitter_query == expected


def test_a_missing_variable_names_file_key_and_variable(tmp_path: Path) -> None:
    message = error_naming_the_file(tmp_path, '[producer]\ntwitter_query = "${QUERY}"\n')
    assert "[producer] twitter_query" in message
    assert "QUERY is not set" in message
    assert "export QUERY=..." in message and "${QUERY:-default}" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${A", "no closing"),
        ("${A B}", "not a variable reference"),
        ("${}", "not a variable reference"),
        ("${A:-${B}}", "cannot nest"),
        ("{{secrets/only-scope}}", "malformed secret reference"),
    ],
)
def test_broken_references(tmp_path: Path, text: str, expected: str) -> None:
    path = local_file(tmp_path, f'[producer]\ntwitter_query = "{text}"\n')
    message = error_for(path, {"A": "1", "B": "2"})
    assert expected in message and "[producer] twitter_query" in message


def test_interpolated_numbers_and_booleans_are_converted(tmp_path: Path) -> None:
    path = local_file(
        tmp_path,
        '[producer]\nrate = "${RATE}"\ntelemetry_devices = "${DEVICES:-7}"\n'
        '[job]\nuse_connector = "${CONNECTOR}"\n',
    )
    settings = load_settings(path, environ={"RATE": "50", "CONNECTOR": "true"})
    assert settings.producer.rate == 50.0
    assert settings.producer.telemetry_devices == 7
    assert settings.job.use_connector is True
    message = error_for(path, {"RATE": "fast", "CONNECTOR": "true"})
    assert "[producer] rate = 'fast' (after ${...}) must be a number" in message


def test_secret_references_work_in_any_string(tmp_path: Path) -> None:
    path = local_file(tmp_path, '[job]\ncheckpoint_dir = "{{secrets/ops/checkpoints}}/tweets"\n')
    settings = load_settings(path, environ={}, secrets=lambda scope, key: f"/mnt/{scope}-{key}")
    assert settings.job.checkpoint_dir == "/mnt/ops-checkpoints/tweets"


# --- connection strings ----------------------------------------------------------------------------------


def test_parse_connection_string() -> None:
    parsed = parse_connection_string(AZURE + ";EntityPath=tweets")
    assert parsed == ConnectionString(
        endpoint="sb://ns.servicebus.windows.net/",
        host="ns.servicebus.windows.net",
        port=None,
        key_name="send",
        key=Secret(KEY),
        entity_path="tweets",
        use_development_emulator=False,
    )
    assert parsed.key.reveal() == KEY
    assert parsed.fully_qualified_namespace == "ns.servicebus.windows.net"


def test_connection_string_keys_ignore_case_as_in_the_sdk() -> None:
    parsed = parse_connection_string(
        f"endpoint=sb://localhost:5673;sharedaccesskeyname=p;SHAREDACCESSKEY={KEY};usedevelopmentemulator=true;"
    )
    assert (parsed.endpoint, parsed.port, parsed.key_name, parsed.use_development_emulator) == (
        "sb://localhost:5673/",
        5673,
        "p",
        True,
    )
    assert parsed.fully_qualified_namespace == "localhost:5673"


def test_a_shared_access_signature_instead_of_a_key() -> None:
    parsed = parse_connection_string(
        f"Endpoint=sb://ns.servicebus.windows.net/;SharedAccessSignature=SharedAccessSignature sr=x&sig={KEY}"
    )
    assert parsed.shared_access_signature is not None
    assert KEY in parsed.shared_access_signature.reveal()
    assert parsed.key_name == "" and not parsed.key
    assert str(parsed) == "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessSignature=***"
    assert KEY not in repr(parsed)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "is empty"),
        (f"Endpoint=sb://ns/;SharedAccessKey={KEY}", "SharedAccessKeyName missing"),
        ("Endpoint=sb://ns/;SharedAccessKeyName=p", "SharedAccessKey missing"),
        (f"SharedAccessKeyName=p;SharedAccessKey={KEY}", "Endpoint is missing"),
        (
            f"Endpoint=ns.servicebus.windows.net;SharedAccessKeyName=p;SharedAccessKey={KEY}",
            "must start with sb://",
        ),
        (f"Endpoint=https://ns/;SharedAccessKeyName=p;SharedAccessKey={KEY}", "must start with sb://"),
        (f"Endpoint=sb://ns:port/;SharedAccessKeyName=p;SharedAccessKey={KEY}", "bad port"),
        (f"Endpoint=sb://ns/hub;SharedAccessKeyName=p;SharedAccessKey={KEY}", "nothing else"),
        (
            f"Endpoint=sb://ns/;SharedAccessKeyName=p;SharedAccessKey={KEY};tail",
            "part 4 of 4 is not Key=value",
        ),
        (
            f"Endpoint=sb://ns/;SharedAccessKeyName=p;SharedAccessKey={KEY};sharedaccesskey={KEY}",
            "given twice",
        ),
        (
            f"Endpoint=sb://ns/;SharedAccessKeyName=p;SharedAccessKey={KEY};Entity=x",
            "unknown key(s) 'Entity'",
        ),
        (
            f"Endpoint=sb://ns/;SharedAcessKeyName=p;SharedAccessKey={KEY}",
            "did you mean SharedAccessKeyName?",
        ),
        (
            f"Endpoint=sb://ns/;SharedAccessKeyName=p;SharedAccessKey={KEY};EntityPath=",
            "EntityPath has no value",
        ),
        (f"{EMULATOR.replace('=true', '=True')};x=1", "unknown key(s) 'x'"),
        (EMULATOR.replace("=true", "=True"), "must be 'true' or 'false' (lower case)"),
        (f"{AZURE};SharedAccessSignature=sig", "not both"),
    ],
)
def test_malformed_connection_strings(text: str, expected: str) -> None:
    with pytest.raises(ConnectionStringError) as info:
        parse_connection_string(text, where="the test string")
    message = str(info.value)
    assert message.startswith("the test string")
    assert expected in message
    assert KEY not in message and "K3yThat" not in message


def test_a_malformed_connection_string_in_a_profile_names_the_file_and_key(tmp_path: Path) -> None:
    path = local_file(tmp_path, "", connection=f"Endpoint=sb://ns/;SharedAccessKey={KEY}")
    message = error_for(path)
    assert f"{path} [eventhub] connection_string: SharedAccessKeyName missing" in message
    assert "Endpoint=sb://<namespace>.servicebus.windows.net/" in message  # the expected format


def test_a_bad_endpoint_in_the_environment_names_the_variable() -> None:
    message = error_for("azure", {"EVENTHUB_CONNECTION_STRING": AZURE.replace("sb://", "")})
    assert message.startswith("$EVENTHUB_CONNECTION_STRING: Endpoint must start with sb://")


# --- plain-text secrets ----------------------------------------------------------------------------------


def test_a_plain_text_key_outside_local_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, hub(""), "staging.toml")
    message = error_for(path)
    assert f"{path} [eventhub] connection_string" in message
    assert "a secret written in plain text" in message
    assert "${EVENTHUB_CONNECTION_STRING}" in message and "{{secrets/scope/key}}" in message
    # Even when an override means the file's value is not used: the file itself is the leak.
    assert "plain text" in error_for(path, {"EVENTHUB_CONNECTION_STRING": AZURE})


def test_the_plain_text_check_is_case_insensitive_and_covers_signatures(tmp_path: Path) -> None:
    lower = write(tmp_path, hub("", AZURE.replace("SharedAccessKey=", "sharedaccesskey=")), "a.toml")
    assert "plain text" in error_for(lower)
    signature = "Endpoint=sb://ns/;SharedAccessSignature=SharedAccessSignature sr=x&sig=abc"
    assert "plain text" in error_for(write(tmp_path, hub("", signature), "b.toml"))


def test_a_key_from_a_variable_default_is_plain_text_too(tmp_path: Path) -> None:
    path = write(tmp_path, hub("", f"${{CS:-{AZURE}}}"), "c.toml")
    assert "plain text" in error_for(path, {"CS": AZURE})


def test_a_key_from_a_reference_is_not_plain_text(tmp_path: Path) -> None:
    connection = "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=${KEY}"
    path = write(tmp_path, hub("", connection), "d.toml")
    settings = load_settings(path, environ={"KEY": KEY})
    assert settings.eventhub.connection_string == parse_connection_string(AZURE)
    secret_ref = connection.replace("${KEY}", "{{secrets/s/k}}")
    path = write(tmp_path, hub("", secret_ref), "e.toml")
    assert load_settings(
        path, environ={}, secrets=lambda s, k: KEY
    ).eventhub.connection_string == parse_connection_string(AZURE)


def test_local_toml_may_hold_a_key(tmp_path: Path) -> None:
    assert load_settings(
        local_file(tmp_path, ""), environ={}
    ).eventhub.connection_string == parse_connection_string(AZURE)


# --- typos and types -------------------------------------------------------------------------------------


def test_an_unknown_key_suggests_the_closest(tmp_path: Path) -> None:
    message = error_naming_the_file(tmp_path, "[job]\nmax_event_per_trigger = 5\n")
    assert "unknown key 'max_event_per_trigger' in [job]" in message
    assert "did you mean 'max_events_per_trigger'?" in message


def test_an_unknown_section_suggests_the_closest(tmp_path: Path) -> None:
    message = error_for(local_file(tmp_path, "[prodcer]\nrate = 5\n"))
    assert "unknown section [prodcer]: did you mean 'producer'?" in message
    assert "known: eventhub, producer, job" in message


def test_an_unknown_key_in_eventhub(tmp_path: Path) -> None:
    path = write(tmp_path, hub('consumergroup = "spark"\n'), "local.toml")
    assert "did you mean 'consumer_group'?" in error_for(path)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('[producer]\nrate = "fast"\n', "[producer] rate must be a number, not a string"),
        ('[job]\nmax_events_per_trigger = "5"\n', "write max_events_per_trigger = 5 without quotes"),
        ("[producer]\ntelemetry_devices = 2.5\n", "must be a whole number, got the number 2.5"),
        (
            "[producer]\nretry_total = true\n",
            "[producer] retry_total must be a whole number, got the boolean true",
        ),
        ("[producer]\nlinger_s = [1]\n", "[producer] linger_s must be a number, got a list"),
        (
            "[producer]\nrate = 0\n",
            "rate = 0 must be greater than 0; remove the key to send as fast as possible",
        ),
        ("[producer]\nrate = nan\n", "must be a finite number"),
        ("[producer]\nlinger_s = -1\n", "[producer] linger_s = -1 must be 0 or more"),
        ("[job]\nmax_events_per_trigger = 0\n", "must be greater than 0"),
        ("[job]\nmin_events_per_trigger = 0\n", "min_events_per_trigger = 0 must be greater than 0"),
        ('[job]\nfail_on_data_loss = "no"\n', "[job] fail_on_data_loss must be true or false, not a string"),
        (
            '[producer]\non_oversize = "drop"\n',
            '[producer] on_oversize = \'drop\' must be one of "skip", "fail"',
        ),
        ('[producer]\nretry_mode = "linear"\n', 'must be one of "exponential", "fixed"'),
        ('[job]\nuse_connector = "yes"\n', "[job] use_connector must be true or false, not a string"),
        ("[job]\nuse_connector = 1\n", "[job] use_connector must be true or false, got the number 1"),
        (
            "[job]\nstarting_position = -1\n",
            'must be a string, got the number -1: write starting_position = "-1"',
        ),
        ('[job]\ntrigger = ""\n', "[job] trigger is empty"),
    ],
)
def test_wrong_types_and_values(tmp_path: Path, body: str, expected: str) -> None:
    path = local_file(tmp_path, body)
    message = error_for(path)
    assert str(path) in message
    assert expected in message


def test_a_key_outside_its_section(tmp_path: Path) -> None:
    path = write(tmp_path, "max_events_per_trigger = 5\n" + hub(""), "local.toml")
    assert f"{path}: max_events_per_trigger is outside any section: move it under [job]" in error_for(path)


def test_a_section_must_be_a_table(tmp_path: Path) -> None:
    path = write(tmp_path, 'producer = "fast"\n' + hub(""), "local.toml")
    assert f"{path}: producer must be a section, [producer] on a line of its own" in error_for(path)


def test_all_producer_and_job_keys_are_read(tmp_path: Path) -> None:
    path = local_file(
        tmp_path,
        '[producer]\nrate = 20\nlinger_s = 0\non_oversize = "fail"\nretry_total = 0\n'
        "retry_backoff_factor = 1\n"
        'retry_backoff_max = 5\nretry_mode = "fixed"\ntwitter_query = "q"\ntwitter_poll_interval_s = 60\n'
        'twitter_bearer_token_env = "TOKEN"\ntelemetry_devices = 3\ntelemetry_interval_s = 0.5\n'
        '[job]\nmax_events_per_trigger = 10\nstarting_position = "@latest"\ntrigger = "once"\n'
        'checkpoint_dir = "/tmp/c"\nuse_connector = true\n',
    )
    settings = load_settings(path, environ={})
    assert settings.producer == ProducerSettings(
        rate=20.0,
        linger_s=0.0,
        on_oversize="fail",
        retry_total=0,
        retry_backoff_factor=1.0,
        retry_backoff_max=5.0,
        retry_mode="fixed",
        twitter_query="q",
        twitter_poll_interval_s=60.0,
        twitter_bearer_token_env="TOKEN",
        telemetry_devices=3,
        telemetry_interval_s=0.5,
    )
    assert isinstance(settings.producer.rate, float)
    assert settings.job == JobSettings(10, "@latest", "once", "/tmp/c", True)


# --- how to connect --------------------------------------------------------------------------------------


def test_the_connection_keys_are_read_for_every_client(tmp_path: Path) -> None:
    path = local_file(
        tmp_path,
        'transport = "websocket"\nconnection_verify = "/ca/rootCA.pem"\n'
        'custom_endpoint_address = "sb://localhost:8443"\n',
    )
    hub_settings = load_settings(path, environ={}).eventhub
    assert (hub_settings.transport, hub_settings.connection_verify, hub_settings.custom_endpoint_address) == (
        "websocket",
        "/ca/rootCA.pem",
        "sb://localhost:8443",
    )


def test_connection_keys_under_producer_are_sent_to_eventhub(tmp_path: Path) -> None:
    """They were [producer] keys once, read by the SDK engine only."""
    message = error_naming_the_file(tmp_path, '[producer]\nconnection_verify = "/ca/rootCA.pem"\n')
    assert "connection_verify belongs under [eventhub], not [producer]: move it" in message


def test_a_bad_custom_endpoint_address_is_named(tmp_path: Path) -> None:
    message = error_naming_the_file(tmp_path, 'custom_endpoint_address = "sb://localhost:99999"\n')
    assert "[eventhub] custom_endpoint_address: 'sb://localhost:99999' has a port that is not" in message


def test_both_connection_string_and_namespace_is_an_error(tmp_path: Path) -> None:
    path = local_file(tmp_path, 'fully_qualified_namespace = "ns.servicebus.windows.net"\n')
    message = error_for(path)
    assert f"{path} [eventhub] sets both connection_string and fully_qualified_namespace" in message
    assert "passwordless" in message


def test_passwordless_profile(tmp_path: Path) -> None:
    text = (
        '[eventhub]\nname = "tweets"\n'
        'fully_qualified_namespace = "${EVENTHUB_NAMESPACE}.servicebus.windows.net"\n'
    )
    path = write(tmp_path, text, "entra.toml")
    settings = load_settings(path, environ={"EVENTHUB_NAMESPACE": "ns"})
    assert settings.eventhub.uses_credential
    assert settings.eventhub.fully_qualified_namespace == "ns.servicebus.windows.net"
    assert settings.eventhub.connection_string is None
    # A connection string override replaces the namespace.
    overridden = load_settings(path, environ={"EVENTHUB_CONNECTION_STRING": AZURE})
    assert not overridden.eventhub.uses_credential
    assert overridden.eventhub.fully_qualified_namespace is None


@pytest.mark.parametrize(
    ("namespace", "expected"),
    [
        ("sb://ns.servicebus.windows.net/", "without a scheme: write 'ns.servicebus.windows.net'"),
        ("ns servicebus", "is not a host name"),
        (AZURE, "looks like a connection string"),
    ],
)
def test_a_bad_namespace(tmp_path: Path, namespace: str, expected: str) -> None:
    path = write(tmp_path, f'[eventhub]\nname = "t"\nfully_qualified_namespace = "{namespace}"\n', "n.toml")
    message = error_for(path)
    assert "[eventhub] fully_qualified_namespace" in message and expected in message


def test_no_way_to_connect(tmp_path: Path) -> None:
    path = write(tmp_path, '[eventhub]\nname = "tweets"\n', "x.toml")
    message = error_for(path)
    assert "says nothing about how to connect" in message and "EVENTHUB_CONNECTION_STRING" in message


def test_entity_path_supplies_the_name(tmp_path: Path) -> None:
    path = write(tmp_path, '[eventhub]\nconnection_string = "${CS}"\n', "x.toml")
    settings = load_settings(path, environ={"CS": AZURE + ";EntityPath=orders"})
    assert settings.eventhub.name == "orders"
    message = error_for(path, {"CS": AZURE})
    assert "has no name" in message and "EntityPath" in message and "EVENTHUB_NAME" in message


def test_entity_path_and_name_must_agree(tmp_path: Path) -> None:
    path = local_file(tmp_path, "", connection=AZURE + ";EntityPath=orders")
    message = error_for(path)
    assert f"{path} [eventhub] connection_string has EntityPath=orders" in message
    assert f"{path} [eventhub] name is 'tweets'" in message
    assert "set the name (or $EVENTHUB_NAME) to 'orders'" in message
    assert load_settings(path, environ={"EVENTHUB_NAME": "orders"}).eventhub.name == "orders"


def test_a_bad_hub_name(tmp_path: Path) -> None:
    path = write(tmp_path, '[eventhub]\nname = "tweets "\nconnection_string = "${CS}"\n', "x.toml")
    assert "is not an event hub name" in error_for(path, {"CS": AZURE})
    assert "$EVENTHUB_NAME = '-x' is not an event hub name" in error_for(
        path, {"CS": AZURE, "EVENTHUB_NAME": "-x"}
    )


# --- overrides -------------------------------------------------------------------------------------------


def test_overrides_flag_then_environment_then_file(tmp_path: Path) -> None:
    in_file, in_env, in_flag = (AZURE.replace("send", name) for name in ("file", "env", "flag"))
    path = write(tmp_path, hub("", in_file), "local.toml")

    def policy(settings: Settings) -> str:
        assert settings.eventhub.connection_string is not None
        return parse_connection_string(settings.eventhub.connection_string.reveal()).key_name

    assert policy(load_settings(path, environ={})) == "file"
    assert policy(load_settings(path, environ={"EVENTHUB_CONNECTION_STRING": in_env})) == "env"
    assert policy(
        load_settings(path, environ={"EVENTHUB_CONNECTION_STRING": in_env}, connection_string=in_flag)
    ) == ("flag")
    assert policy(load_settings(path, environ={}, connection_string=in_flag)) == "flag"
    # An empty variable counts as unset.
    assert policy(load_settings(path, environ={"EVENTHUB_CONNECTION_STRING": ""})) == "file"


def test_an_override_is_validated_and_named(tmp_path: Path) -> None:
    message = error_for("local", connection_string=f"Endpoint=sb://x/;SharedAccessKey={KEY}")
    assert message.startswith("--connection-string: SharedAccessKeyName missing")


def test_an_overridden_value_is_not_expanded(tmp_path: Path) -> None:
    # ${UNSET} would fail, but the override means the file's value is never needed.
    path = write(tmp_path, '[eventhub]\nname = "${UNSET_NAME}"\nconnection_string = "${UNSET}"\n', "x.toml")
    settings = load_settings(path, environ={"EVENTHUB_CONNECTION_STRING": AZURE, "EVENTHUB_NAME": "t"})
    assert settings.eventhub.name == "t"


# --- redaction -------------------------------------------------------------------------------------------


def test_the_key_never_shows(tmp_path: Path) -> None:
    settings = load_settings("azure", environ={"EVENTHUB_CONNECTION_STRING": AZURE})
    parsed = parse_connection_string(AZURE + ";EntityPath=tweets")
    for text in (repr(settings), str(settings), f"{settings}", str(parsed), repr(parsed), f"{parsed.key}"):
        assert KEY not in text
        assert "K3yThat" not in text
    assert str(parsed) == (
        "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=***;EntityPath=tweets"
    )
    assert "Secret('***')" in repr(settings)


def test_a_secret_in_a_bad_value_is_hidden(tmp_path: Path) -> None:
    path = local_file(tmp_path, '[producer]\non_oversize = "{{secrets/s/k}}"\n')
    message = error_for(path, secrets=lambda s, k: KEY)
    assert "value hidden" in message
    path = write(tmp_path, '[eventhub]\nname = "t"\nfully_qualified_namespace = "${CS}"\n', "n.toml")
    assert "looks like a connection string" in error_for(path, {"CS": AZURE})


def test_secret() -> None:
    secret = Secret("s3cr3t")
    assert repr(secret) == str(secret) == f"{secret}" == "Secret('***')"
    assert secret.reveal() == "s3cr3t"
    assert secret == Secret("s3cr3t") and secret != Secret("other") and secret != "s3cr3t"
    assert hash(secret) == hash(Secret("s3cr3t"))
    assert len({secret, Secret("s3cr3t")}) == 1
    assert secret and not Secret("")
    assert Secret("é") == Secret("é")  # compared as bytes: non-ASCII text works too


# --- Settings and EventHubSettings -----------------------------------------------------------------------


def test_with_connection_string_replaces_the_namespace() -> None:
    settings = Settings(
        profile="x", path=None, eventhub=EventHubSettings("tweets", fully_qualified_namespace="ns.example")
    )
    replaced = settings.with_connection_string(AZURE + ";EntityPath=tweets")
    assert replaced.eventhub.fully_qualified_namespace is None
    assert replaced.eventhub.connection_string == parse_connection_string(AZURE + ";EntityPath=tweets")
    with pytest.raises(SettingsError, match="EntityPath=orders"):
        settings.with_connection_string(AZURE + ";EntityPath=orders")
    with pytest.raises(SettingsError, match="SharedAccessKeyName missing") as info:
        settings.with_connection_string(f"Endpoint=sb://x/;SharedAccessKey={KEY}")
    assert KEY not in str(info.value)


def test_eventhub_settings_need_exactly_one_way_to_connect() -> None:
    with pytest.raises(SettingsError, match="exactly one"):
        EventHubSettings("tweets")
    with pytest.raises(SettingsError, match="exactly one"):
        EventHubSettings(
            "tweets", connection_string=parse_connection_string(AZURE), fully_qualified_namespace="ns"
        )


def test_settings_are_frozen() -> None:
    settings = load_settings("local", environ={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.profile = "other"  # type: ignore[misc]


# --- command line ----------------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    result = argparse.ArgumentParser()
    add_settings_arguments(result)
    return result


def test_settings_from_arguments(tmp_path: Path) -> None:
    assert settings_from_arguments(parser().parse_args([]), environ={}).profile == "local"
    args = parser().parse_args(["--profile", "azure", "--connection-string", AZURE])
    settings = settings_from_arguments(args, environ={"EVENTHUB_CONNECTION_STRING": "ignored"})
    assert settings.profile == "azure"
    assert settings.eventhub.connection_string == parse_connection_string(AZURE)
    path = write(tmp_path, hub(""), "local.toml")
    assert settings_from_arguments(parser().parse_args(["--profile", str(path)]), environ={}).path == path
    environ = {"HUBSTREAM_PROFILE": "azure", "EVENTHUB_CONNECTION_STRING": AZURE}
    assert settings_from_arguments(parser().parse_args([]), environ=environ).profile == "azure"


def test_the_help_lists_the_profiles() -> None:
    text = parser().format_help()
    assert "--profile NAME|PATH" in text and "--connection-string" in text
    assert "azure, databricks, local" in text and "HUBSTREAM_PROFILE" in text
