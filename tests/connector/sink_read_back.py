"""`python -m tests.connector.sink_read_back CONNECTION_STRING HUB`: a hub read whole by our Spark 4 source.

The Scala connector's sink tests run on Spark 3.5; this runs in the Spark 4 virtualenv (`.venv`) as their
child process, reads the hub with `spark.read.format(register(spark))` from the first event to the last,
and prints one JSON object per event on stdout: partition, sequence number, body (base64), partition
key and properties, as our source's columns give them.
"""

from __future__ import annotations

import base64
import json
import sys


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m tests.connector.sink_read_back CONNECTION_STRING HUB", file=sys.stderr)
        return 2
    connection_string, hub = argv
    from jobs.datasource import register
    from tests.local_spark import local_session

    spark = local_session("hubstream-sink-read-back")
    try:
        rows = (
            spark.read.format(register(spark))
            .option("eventhubs.connectionString", connection_string)
            .option("eventhubs.name", hub)
            .load()
            .select("partition", "sequenceNumber", "body", "partitionKey", "properties")
            .collect()
        )
    finally:
        spark.stop()
    for row in rows:
        event = {
            "partition": row["partition"],
            "sequenceNumber": row["sequenceNumber"],
            "body": base64.b64encode(bytes(row["body"])).decode(),
            "partitionKey": row["partitionKey"],
            "properties": dict(row["properties"] or {}),
        }
        print(json.dumps(event, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
