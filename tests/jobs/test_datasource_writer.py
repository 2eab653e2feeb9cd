"""The Event Hubs sink: its schema checks as plain Python, its task as plain Python against a real
emulator, then `df.write` and `df.writeStream` in Spark, read back with the SDK and with our source."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql.streaming import StreamingQuery
from pyspark.sql.types import BinaryType, IntegerType, MapType, StringType, StructField, StructType

from emulator.process import EmulatorProcess
from emulator.roundtrip import read_all, read_events, send_keyed
from jobs.datasource import SOURCE_NAME, register
from jobs.datasource.writer import (
    EventHubsSinkError,
    EventHubsWriteError,
    SinkColumns,
    SinkOptions,
    check_append,
    sink_columns,
    write_rows,
)

HUB = "tweets"
KEY = "SAS_KEY_VALUE"  # the test emulator's key: no error may show it


def schema(*fields: tuple[str, Any]) -> StructType:
    return StructType([StructField(name, kind) for name, kind in fields])


PROPS = MapType(StringType(), StringType())


# ---- the schema, checked on the driver -----------------------------------------------------------------


def test_sink_columns_of_the_connectors_schema() -> None:
    assert sink_columns(schema(("body", BinaryType()))) == SinkColumns(body_is_binary=True)
    got = sink_columns(schema(("body", StringType()), ("partitionKey", StringType()), ("properties", PROPS)))
    assert got == SinkColumns(body_is_binary=False, partition_key=True, properties=True)
    assert sink_columns(schema(("body", StringType()), ("partitionId", StringType()), ("x", IntegerType())))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ((("value", StringType()),), r"needs a column 'body' \(string or binary\).*\['value'\]"),
        ((("body", IntegerType()),), "'body' must be string or binary, not int"),
        (
            (("body", StringType()), ("partitionId", StringType()), ("partitionKey", StringType())),
            "both 'partitionId' and 'partitionKey'.*not both",
        ),
        ((("body", StringType()), ("partitionId", IntegerType())), "'partitionId' must be a string"),
        (
            (("body", StringType()), ("properties", MapType(StringType(), IntegerType()))),
            "map<string,string>",
        ),
    ],
)
def test_a_schema_the_sink_cannot_write_says_what_to_change(fields: Any, message: str) -> None:
    with pytest.raises(EventHubsSinkError, match=message):
        sink_columns(schema(*fields))


def test_the_sink_only_appends() -> None:
    check_append(False)
    with pytest.raises(EventHubsSinkError, match="only appends"):
        check_append(True)


def test_options_are_the_sources_connection_options() -> None:
    cs = f"Endpoint=sb://localhost:5999;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey={KEY}"
    parsed = SinkOptions.parse({"eventhubs.connectionstring": cs, "eventhubs.name": HUB})
    assert parsed.hub == HUB and KEY not in repr(parsed)
    with pytest.raises(ValueError, match=r"eventhubs\.name is required"):
        SinkOptions.parse({"eventhubs.connectionString": cs})


# ---- one task, as plain Python -------------------------------------------------------------------------


def options(emulator: EmulatorProcess, hub: str = HUB) -> SinkOptions:
    return SinkOptions.parse(
        {"eventhubs.connectionString": emulator.connection_string, "eventhubs.name": hub}
    )


def test_a_task_sends_rows_and_arrow_batches(emulator: EmulatorProcess) -> None:
    columns = SinkColumns(body_is_binary=False, partition_id=True, properties=True)
    rows = [Row(body=f"r{i}", partitionId="1", properties={"i": str(i)}) for i in range(10)]
    sent = write_rows(options(emulator), columns, iter(rows), "Spark partition 0")
    assert (sent.events, sent.batches) == (10, 1)
    arrow = pa.RecordBatch.from_pydict(
        {
            "body": [f"a{i}".encode() for i in range(10)],
            "partitionId": ["2"] * 10,
            "properties": [[("i", str(i))] for i in range(10)],
        },
        schema=pa.schema(
            [
                ("body", pa.binary()),
                ("partitionId", pa.string()),
                ("properties", pa.map_(pa.string(), pa.string())),
            ]
        ),
    )
    columns = SinkColumns(body_is_binary=True, partition_id=True, properties=True)
    assert write_rows(options(emulator), columns, iter([arrow]), "Spark partition 1").events == 10
    for pid, prefix in (("1", "r"), ("2", "a")):
        got = read_events(emulator.connection_string, count=10, partition_id=pid, starting_position="-1")
        assert [e.body_as_str() for e in got] == [f"{prefix}{i}" for i in range(10)]
        assert [e.properties for e in got] == [{b"i": str(i).encode()} for i in range(10)]


def test_an_oversize_event_fails_the_task_naming_partition_and_row(emulator: EmulatorProcess) -> None:
    rows = [Row(body="small"), Row(body="x" * (1 << 20)), Row(body="never sent")]
    with pytest.raises(EventHubsWriteError) as info:
        write_rows(options(emulator), SinkColumns(False), iter(rows), "Spark partition 3")
    text = str(info.value)
    assert "event hub 'tweets', Spark partition 3, row 1: an event of 1,048,584 bytes" in text
    assert "larger than the hub accepts (1,048,576 bytes)" in text and KEY not in text


def test_an_unknown_hub_fails_the_task_without_the_key(emulator: EmulatorProcess) -> None:
    with pytest.raises(EventHubsWriteError, match=r"Spark partition 0: .*amqp:not-found") as info:
        write_rows(options(emulator, "nope"), SinkColumns(False), iter([Row(body="b")]), "Spark partition 0")
    assert KEY not in str(info.value)


def test_a_null_body_fails_the_task(emulator: EmulatorProcess) -> None:
    with pytest.raises(EventHubsWriteError, match="Spark partition 0, row 1: 'body' is null"):
        write_rows(
            options(emulator), SinkColumns(False), iter([Row(body="b"), Row(body=None)]), "Spark partition 0"
        )


# ---- Spark ---------------------------------------------------------------------------------------------


def sink_options(cs: str, hub: str = HUB) -> dict[str, str]:
    return {"eventhubs.connectionString": cs, "eventhubs.name": hub}


def read_back_with_our_source(spark: SparkSession, cs: str, hub: str, checkpoint: Path) -> list[Row]:
    rows: list[Row] = []

    def collect(batch: DataFrame, _batch_id: int) -> None:
        rows.extend(batch.select("body", "partition", "partitionKey", "properties").collect())

    query = (
        spark.readStream.format(SOURCE_NAME).options(**sink_options(cs, hub)).load()
        .writeStream.foreachBatch(collect).option("checkpointLocation", str(checkpoint))
        .trigger(availableNow=True).start()
    )  # fmt: skip
    run_to_end(query)
    return rows


def run_to_end(query: StreamingQuery) -> None:
    """Wait for an availableNow query to finish (stopped whatever happens) and check that it did not fail."""
    try:
        assert query.awaitTermination(240)
    finally:
        query.stop()
    assert query.exception() is None


@pytest.fixture
def fmt(spark: SparkSession) -> str:
    """The data source's format name, registered with the session."""
    return register(spark)


def test_df_write_round_trip_keys_land_where_the_service_puts_them(
    spark: SparkSession, fmt: str, emulator: EmulatorProcess, tmp_path: Path
) -> None:
    cs = emulator.connection_string
    # Where the service puts each key: the SDK's own keyed sends to the same hub (bodies "0".."31").
    send_keyed(cs, HUB, 32, keys=16)
    sdk_partition = {r.partition_key: r.partition_id for r in read_all(cs, HUB)}
    count = 3000
    df = (
        spark.range(count)
        .repartition(3)
        .selectExpr(
            "concat('sink-', id) as body",
            "concat('device-', id % 16) as partitionKey",
            "map('id', cast(id as string), 'source', 'spark') as properties",
        )
    )
    df.write.format(fmt).options(**sink_options(cs)).mode("append").save()

    sdk_rows = [r for r in read_all(cs, HUB) if r.body.startswith("sink-")]
    assert sorted(int(r.body[5:]) for r in sdk_rows) == list(range(count))
    for r in sdk_rows:
        assert r.partition_key == f"device-{int(r.body[5:]) % 16}"
        assert r.partition_id == sdk_partition[r.partition_key]

    ours = [
        r for r in read_back_with_our_source(spark, cs, HUB, tmp_path / "chk") if r.body.startswith(b"sink-")
    ]
    assert len(ours) == count
    for row in ours:
        n = int(row.body[5:])
        assert row.partitionKey == f"device-{n % 16}" and row.partition == sdk_partition[row.partitionKey]
        assert row.properties == {"id": str(n), "source": "spark"}


def test_df_write_to_partition_ids(spark: SparkSession, fmt: str, emulator: EmulatorProcess) -> None:
    cs = emulator.connection_string
    df = spark.range(100).selectExpr(
        "cast(cast(id as string) as binary) as body", "cast(id % 2 as string) as partitionId"
    )
    df.write.format(fmt).options(**sink_options(cs, "telemetry")).mode("append").save()
    rows = read_all(cs, "telemetry")
    assert len(rows) == 100
    assert all(int(r.body) % 2 == int(r.partition_id) for r in rows)


def test_partition_id_and_key_together_are_refused_at_save(
    spark: SparkSession, fmt: str, emulator: EmulatorProcess
) -> None:
    df = spark.range(3).selectExpr("'b' as body", "'0' as partitionId", "'k' as partitionKey")
    with pytest.raises(Exception, match="both 'partitionId' and 'partitionKey'"):
        df.write.format(fmt).options(**sink_options(emulator.connection_string)).mode("append").save()


def test_a_failed_send_fails_the_job_with_a_readable_error(
    spark: SparkSession, fmt: str, emulator: EmulatorProcess
) -> None:
    cs = emulator.connection_string
    df = spark.range(5).coalesce(1).selectExpr("if(id = 3, repeat('x', 1100000), 'b') as body")
    with pytest.raises(Exception, match=r"Spark partition 0, row 3: an event of 1,100,00\d bytes") as info:
        df.write.format(fmt).options(**sink_options(cs)).mode("append").save()
    assert KEY not in str(info.value)
    with pytest.raises(Exception, match="amqp:not-found") as info:
        spark.range(2).selectExpr("'b' as body").write.format(fmt).options(**sink_options(cs, "nope")).mode(
            "append"
        ).save()
    assert KEY not in str(info.value)


def test_write_stream_from_one_hub_to_another(
    spark: SparkSession, fmt: str, emulator: EmulatorProcess, tmp_path: Path
) -> None:
    """Our source reads `tweets`, the sink writes `telemetry`: a checkpointed pipeline, run twice."""
    cs = emulator.connection_string
    send_keyed(cs, HUB, 200, keys=8)

    def run() -> None:
        query = (
            spark.readStream.format(fmt).options(**sink_options(cs))
            .option("maxEventsPerTrigger", "120").load()
            .selectExpr("body", "partitionKey", "map('from', partition) as properties")
            .writeStream.format(fmt).options(**sink_options(cs, "telemetry"))
            .option("checkpointLocation", str(tmp_path / "chk")).trigger(availableNow=True).start()
        )  # fmt: skip
        run_to_end(query)

    run()
    send_keyed(cs, HUB, 50, keys=8)  # bodies 0..49 again: 250 events in all
    run()
    rows = read_all(cs, "telemetry")
    assert sorted(int(r.body) for r in rows) == sorted([*range(200), *range(50)])
    assert {r.partition_key for r in rows} == {f"device-{i}" for i in range(8)}
