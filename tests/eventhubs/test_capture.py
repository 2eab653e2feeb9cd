"""Capture files, names and records against what the service's documentation and files show."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import fastavro
import pytest

from eventhubs import capture
from eventhubs.events import encode_event, stamp

# "Exploring captured Avro files in Azure Event Hubs" (learn.microsoft.com), `avro-tools getschema` output.
DOCUMENTED_SCHEMA = """
{
    "type":"record",
    "name":"EventData",
    "namespace":"Microsoft.ServiceBus.Messaging",
    "fields":[
                 {"name":"SequenceNumber","type":"long"},
                 {"name":"Offset","type":"string"},
                 {"name":"EnqueuedTimeUtc","type":"string"},
                 {"name":"SystemProperties","type":{"type":"map","values":["long","double","string","bytes"]}},
                 {"name":"Properties","type":{"type":"map","values":["long","double","string","bytes"]}},
                 {"name":"Body","type":["null","bytes"]}
             ]
}
"""

# The first bytes of a file the service wrote in 2016 (DXFrance/BlueFrogHackfest, SampleData/05): magic,
# a metadata map of two entries, avro.codec = null first, then the schema as compact JSON.
SERVICE_HEADER_START = b"Obj\x01\x04\x14avro.codec\x08null\x16avro.schema\xde\x06"
# ...and its one record, Avro-encoded: sequence 0, offset "0", "11/16/2016 4:44:11 PM", system properties
# {"x-opt-publisher": "buddy1234"}, no properties, a 40-byte body.
SERVICE_BODY = b'{"field1": "value1", "field2": "value2"}'
SERVICE_RECORD = (
    b"\x00\x020\x2a11/16/2016 4:44:11 PM\x02\x1ex-opt-publisher\x04\x12buddy1234\x00\x00\x02\x50"
    + SERVICE_BODY
)
SERVICE_ENQUEUED_MS = int(datetime(2016, 11, 16, 16, 44, 11, 250_000, tzinfo=UTC).timestamp() * 1000)


def test_schema_is_the_documented_one_field_for_field_and_in_order():
    assert capture.CAPTURE_SCHEMA == json.loads(DOCUMENTED_SCHEMA)
    assert json.loads(capture.CAPTURE_SCHEMA_JSON) == json.loads(DOCUMENTED_SCHEMA)
    assert capture.FIELD_NAMES == (
        "SequenceNumber", "Offset", "EnqueuedTimeUtc", "SystemProperties", "Properties", "Body"
    )  # fmt: skip


def test_a_file_is_byte_for_byte_what_the_service_wrote():
    sync = bytes(range(16))
    record = {
        "SequenceNumber": 0,
        "Offset": "0",
        "EnqueuedTimeUtc": capture.format_enqueued_time_utc(SERVICE_ENQUEUED_MS),
        "SystemProperties": {"x-opt-publisher": "buddy1234"},
        "Properties": {},
        "Body": SERVICE_BODY,
    }
    data = capture.encode_archive([record], sync_marker=sync)
    header = SERVICE_HEADER_START + capture.CAPTURE_SCHEMA_JSON.encode() + b"\x00" + sync
    assert len(capture.CAPTURE_SCHEMA_JSON) == 431  # b"\xde\x06", the length in the service's header
    assert len(SERVICE_RECORD) == 97  # b"\xc2\x01", the block size in the service's file
    block = b"\x02\xc2\x01" + SERVICE_RECORD + sync
    assert data == header + block
    assert list(capture.read_archive(data)) == [record]


def test_an_empty_window_is_a_valid_file_with_no_records():
    data = capture.encode_archive([])
    reader = fastavro.reader(io.BytesIO(data))
    assert reader.metadata["avro.codec"] == "null"
    assert list(reader) == []


def test_deflate_files_are_read_back_by_fastavro():
    records = [
        capture.capture_record(encode_event(b"x" * 1000), n, n * 1000, SERVICE_ENQUEUED_MS) for n in range(50)
    ]
    out = io.BytesIO()
    writer = capture.ArchiveWriter(out, codec=capture.ENCODINGS["AvroDeflate"])
    writer.write_block(records[:20])
    writer.write_block(records[20:])
    assert writer.records == 50
    data = out.getvalue()
    assert len(data) < 50 * 1000 / 4  # compressed
    reader = fastavro.reader(io.BytesIO(data))
    assert reader.metadata["avro.codec"] == "deflate"
    assert [r["SequenceNumber"] for r in reader if isinstance(r, dict)] == list(range(50))
    assert list(capture.read_archive(data)) == records


def test_the_service_writes_the_null_codec_by_default():
    assert capture.DEFAULT_ENCODING == "Avro"
    assert capture.SERVICE_CODEC == "null"
    with pytest.raises(ValueError, match="snappy"):
        capture.encode_archive([], codec="snappy")


def test_read_archive_names_what_is_wrong():
    with pytest.raises(capture.CaptureFileError, match="not an Avro file"):
        list(capture.read_archive(b"not avro at all"))
    other = io.BytesIO()
    fastavro.writer(
        other, {"type": "record", "name": "X", "fields": [{"name": "a", "type": "long"}]}, [{"a": 1}]
    )
    with pytest.raises(capture.CaptureFileError, match="not the capture schema"):
        list(capture.read_archive(other.getvalue()))
    whole = capture.encode_archive([capture.capture_record(encode_event(b"y" * 500), 0, 0, 0)])
    with pytest.raises(capture.CaptureFileError, match="corrupt"):
        list(capture.read_archive(whole[:-40]))


# ---- names ------------------------------------------------------------------------------------------------


def test_default_name_matches_the_documented_example():
    # "mynamespace/myeventhub/0/2017/12/08/03/03/17.avro" (Event Hubs Capture overview)
    when = datetime(2017, 12, 8, 3, 3, 17, 999_000, tzinfo=UTC)
    name = capture.archive_name(capture.DEFAULT_ARCHIVE_NAME_FORMAT, "mynamespace", "myeventhub", "0", when)
    assert name == "mynamespace/myeventhub/0/2017/12/08/03/03/17.avro"


def test_tokens_in_any_order_with_literal_text():
    fmt = "capture/{Year}-{Month}-{Day}/{Namespace}.{EventHub}/p{PartitionId}/{Hour}{Minute}{Second}"
    when = datetime(2026, 1, 2, 13, 4, 5, tzinfo=UTC)
    assert capture.archive_name(fmt, "ns", "hub", "12", when) == "capture/2026-01-02/ns.hub/p12/130405.avro"


@pytest.mark.parametrize(
    ("fmt", "message"),
    [
        ("{Namespace}/{EventHub}/{PartitionId}/{Year}/{Month}/{Day}/{Hour}/{Minute}", r"lacks \{Second\}"),
        (
            "{Namespace}/{EventHub}/{Partition}/{Year}/{Month}/{Day}/{Hour}/{Minute}/{Second}",
            r"unknown token",
        ),
        (capture.DEFAULT_ARCHIVE_NAME_FORMAT + "/{Second}", r"\{Second\} appears twice"),
        (capture.DEFAULT_ARCHIVE_NAME_FORMAT + "}", "unmatched brace"),
        ("", "empty"),
    ],
)
def test_formats_the_service_refuses(fmt, message):
    with pytest.raises(capture.ArchiveNameFormatError, match=message):
        capture.check_archive_name_format(fmt)


# ---- records ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "text"),
    [
        (datetime(2016, 11, 16, 16, 44, 11, 250_000), "11/16/2016 4:44:11 PM"),  # the 2016 service file
        (datetime(2021, 12, 2, 14, 58, 24), "12/2/2021 2:58:24 PM"),  # the 2021 one
        (datetime(2026, 1, 5, 0, 0, 9), "1/5/2026 12:00:09 AM"),
        (datetime(2026, 1, 5, 12, 30, 0), "1/5/2026 12:30:00 PM"),
    ],
)
def test_enqueued_time_as_the_service_writes_it(when, text):
    ms = int(when.replace(tzinfo=UTC).timestamp() * 1000)
    assert capture.format_enqueued_time_utc(ms) == text
    assert capture.parse_enqueued_time_utc(text) == when.replace(microsecond=0, tzinfo=UTC)


def test_parse_enqueued_time_refuses_other_formats():
    with pytest.raises(ValueError, match="2026-01-05T00:00:00Z"):
        capture.parse_enqueued_time_utc("2026-01-05T00:00:00Z")
    with pytest.raises(ValueError, match="12-hour"):
        capture.parse_enqueued_time_utc("1/5/2026 13:00:00 PM")


def test_record_of_a_stored_event():
    properties = {"device": "d-1", "reading": 7, "ratio": 0.5, "raw": b"\x00\x01", "ok": True}
    message = stamp(
        encode_event(b'{"t": 21}', properties, partition_key="d-1"), 41, 9000, SERVICE_ENQUEUED_MS, "d-1"
    )
    record = capture.capture_record(message, 41, 9000, SERVICE_ENQUEUED_MS)
    assert record == {
        "SequenceNumber": 41,
        "Offset": "9000",
        "EnqueuedTimeUtc": "11/16/2016 4:44:11 PM",
        # The 2021 service file's system properties: the partition key, and the enqueued time in epoch ms.
        "SystemProperties": {"x-opt-enqueued-time": SERVICE_ENQUEUED_MS, "x-opt-partition-key": "d-1"},
        "Properties": {"device": "d-1", "reading": 7, "ratio": 0.5, "raw": b"\x00\x01", "ok": "true"},
        "Body": b'{"t": 21}',
    }
    data = capture.encode_archive([record])
    assert list(fastavro.reader(io.BytesIO(data))) == [record]


def test_record_of_an_event_without_key_or_properties():
    message = stamp(encode_event(b""), 0, 0, 0, None)
    record = capture.capture_record(message, 0, 0, 0)
    assert record["SystemProperties"] == {"x-opt-enqueued-time": 0}
    assert record["Properties"] == {}
    assert record["Body"] == b""
    assert record["EnqueuedTimeUtc"] == "1/1/1970 12:00:00 AM"


def test_limits_are_the_services():
    assert capture.MIN_TIME_WINDOW_SECONDS == 60
    assert capture.DEFAULT_TIME_WINDOW_SECONDS == 300
    assert capture.MAX_TIME_WINDOW_SECONDS == 900
    # The management API's sizeLimitInBytes: "between 10485760 to 524288000 bytes".
    assert (capture.MIN_SIZE_WINDOW_BYTES, capture.MAX_SIZE_WINDOW_BYTES) == (10485760, 524288000)
    assert capture.DEFAULT_SIZE_WINDOW_BYTES == 300 * 1024 * 1024
