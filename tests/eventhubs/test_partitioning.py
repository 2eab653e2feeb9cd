"""eventhubs.partitioning against the installed azure-eventhub's own resolver, and the .NET/Java vectors."""

from __future__ import annotations

import pytest
from azure.eventhub._buffered_producer._partition_resolver import PartitionResolver, generate_hash_code
from hypothesis import given, settings
from hypothesis import strategies as st

from eventhubs.partitioning import hash_code, lookup3, partition_index

# Hash codes the Java and .NET SDKs' own tests pin for their PartitionResolver (a port of the service's).
SERVICE_VECTORS = [
    ("!c*_!I@1^c", 15372),
    ("p4*!jioeO/z-!-;w:dh", -3104),
    ("$0cb", 26269),
    ("-4189260826195535198", 453),
]


def sdk_hash(key: str) -> int:
    # The SDK hashes code points; fed the UTF-8 bytes as latin-1 characters it hashes the bytes.
    return generate_hash_code(key.encode("utf-8").decode("latin-1"))


def sdk_partition(key: str, count: int) -> int:
    return int(PartitionResolver([str(i) for i in range(count)]).get_partition_id_by_partition_key(key))


@pytest.mark.parametrize(("key", "expected"), SERVICE_VECTORS)
def test_hash_codes_match_the_service_port_vectors(key: str, expected: int) -> None:
    assert hash_code(key) == expected
    assert generate_hash_code(key) == expected


def test_lookup3_of_nothing_is_its_initial_state() -> None:
    assert lookup3(b"") == (0xDEADBEEF, 0xDEADBEEF)
    assert hash_code("") == 0
    assert partition_index("", 7) == 0


@settings(max_examples=1500, deadline=None)
@given(key=st.text(min_size=0, max_size=80), count=st.integers(1, 32))
def test_agrees_with_the_sdk_hash_on_any_key(key: str, count: int) -> None:
    assert hash_code(key) == sdk_hash(key)
    assert 0 <= partition_index(key, count) < count


ascii_keys = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=127), max_size=80)


@settings(max_examples=1500, deadline=None)
@given(key=ascii_keys, count=st.integers(1, 32))
def test_agrees_with_the_sdk_resolver_where_both_sdks_agree(key: str, count: int) -> None:
    """On ASCII keys the Python resolver is the service's, except for its floored remainder (below)."""
    code = hash_code(key)
    if code >= 0 or code % count == 0:
        assert partition_index(key, count) == sdk_partition(key, count)
    else:
        # C#/Java: abs(code % count) with a truncated remainder; Python: abs(code % count) floored.
        assert partition_index(key, count) == (-code) % count
        assert sdk_partition(key, count) == code % count


def test_a_large_generated_key_set_lands_as_the_sdk_resolver_says() -> None:
    """100,000 device-like keys over every partition count 1-32: count the places the SDK disagrees."""
    keys = [f"device-{i}" for i in range(100_000 // 32)]  # 3,125 keys x 32 counts
    differ = 0
    for count in range(1, 33):
        resolver = PartitionResolver([str(i) for i in range(count)])
        for key in keys:
            ours = partition_index(key, count)
            theirs = int(resolver.get_partition_id_by_partition_key(key))
            if ours != theirs:
                differ += 1
                assert hash_code(key) < 0 and ours == -hash_code(key) % count
    # Only negative hash codes with a non-zero remainder can differ: about half of the keys.
    assert 0 < differ < len(keys) * 32 * 0.6


def test_the_python_sdk_picks_another_partition_for_a_negative_hash() -> None:
    # -3104 % 3: C# and Java give -2 (partition 2), Python gives 1.
    assert partition_index("p4*!jioeO/z-!-;w:dh", 3) == 2
    assert sdk_partition("p4*!jioeO/z-!-;w:dh", 3) == 1


def test_non_ascii_keys_hash_their_utf8_bytes() -> None:
    key = "clé-ünïcode-键"
    assert hash_code(key) == sdk_hash(key)
    # The Python SDK hashes code points instead: for such keys its buffered producer disagrees.
    assert generate_hash_code(key) != hash_code(key)


def test_partition_count_must_be_positive() -> None:
    with pytest.raises(ValueError, match="partition_count"):
        partition_index("k", 0)
