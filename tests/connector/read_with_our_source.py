"""The Spark 4 side of the parity test: read a hub with hubstream's source, write `parity_frame` as parquet.

    python -m tests.connector.read_with_our_source CONNECTION_STRING HUB CONSUMER_GROUP OUT_DIR

Run by tests/connector/test_connector_parity.py with the main virtualenv's Python (Spark 4), against the
emulator the Spark 3.5 side (the Scala connector) read.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    connection_string, hub, consumer_group, out = argv
    from jobs.datasource import register
    from jobs.datasource.options import CONNECTION_STRING, CONSUMER_GROUP, NAME
    from jobs.local_spark import local_session
    from tests.connector.parity import parity_frame

    spark = local_session("hubstream-parity-spark4")
    try:
        fmt = register(spark)
        options = {CONNECTION_STRING: connection_string, NAME: hub, CONSUMER_GROUP: consumer_group}
        events = spark.read.format(fmt).options(**options).load()
        parity_frame(events).write.parquet(out)
        print(f"pyspark {spark.version}: wrote {spark.read.parquet(out).count()} events to {out}", flush=True)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
