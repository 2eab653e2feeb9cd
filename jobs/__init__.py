"""Spark jobs: read Event Hubs into readable columns, with our own Spark 4 source."""
