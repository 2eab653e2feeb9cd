# Databricks notebook source
# MAGIC %md
# MAGIC # ReadTweetsFromEventHub
# MAGIC
# MAGIC The consumer notebook of the tutorial *Stream data into Azure Databricks using Event Hubs*. It reads
# MAGIC the events that **SendTweetsToEventHub** sent, as a Spark Structured Streaming DataFrame, turns the
# MAGIC binary body, the offset and the enqueued time into readable columns, and shows them batch by batch.
# MAGIC
# MAGIC Each step calls the `hubstream` package (`conf` for the settings, `jobs` for the stream and its
# MAGIC columns): the same code as the `python -m jobs.read_events` job, so what works here works in a job.

# COMMAND ----------

# MAGIC %md
# MAGIC ## Before you start
# MAGIC
# MAGIC 1. **Install hubstream on the cluster** as for SendTweetsToEventHub (the wheel from `make wheel` as a
# MAGIC    cluster library). It must be a cluster library, or installed with `%pip`, so that the Python
# MAGIC    workers reading the partitions have it too.
# MAGIC 2. **Which source reads the hub** depends on the cluster's Spark, through the profile's
# MAGIC    `use_connector`:
# MAGIC    - Spark 4.2 or newer: hubstream's own source, `hubstream-eventhubs`, written in Python. Nothing
# MAGIC      else to install. This is the `databricks` profile's default (`use_connector = false`).
# MAGIC    - Spark 3 (the tutorial's runtime): the Scala connector the tutorial used, the Maven library
# MAGIC      `com.microsoft.azure:azure-eventhubs-spark_2.12:2.3.22`, with `use_connector = true` in your
# MAGIC      profile. That path has never read an event in hubstream's tests (the jar could not be fetched
# MAGIC      where they run); the readable columns below are tested on Spark 3.5 as on Spark 4.
# MAGIC 3. **The connection string** comes from the secret scope, as in SendTweetsToEventHub.

# COMMAND ----------

# MAGIC %md
# MAGIC ## Choose how to read
# MAGIC
# MAGIC - `profile`: the settings profile (`databricks`, `azure`, `local`, or a TOML file's path).
# MAGIC - `max_events_per_trigger`: at most this many events per micro-batch. 5 is the tutorial's
# MAGIC   `setMaxEventsPerTrigger(5)`, small batches that are easy to follow; empty: the profile's value.
# MAGIC - `starting_position`: where a new stream starts: `-1` (the oldest event the hub keeps), `@latest`
# MAGIC   (only events sent from now on), `seq:N` (a sequence number) or an ISO time such as
# MAGIC   `2024-05-01T12:00:00Z`; empty: the profile's value.

# COMMAND ----------

from conf import available_profiles

dbutils.widgets.combobox("profile", "databricks", available_profiles(), "Settings profile")
dbutils.widgets.text("max_events_per_trigger", "5", "Max events per micro-batch (empty: the profile's)")
dbutils.widgets.text("starting_position", "-1", "Starting position (empty: the profile's)")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Load the settings
# MAGIC
# MAGIC Where the tutorial pasted the namespace, hub, policy name and key into `ConnectionStringBuilder`,
# MAGIC `load_settings` reads the profile and fetches the key from the secret scope with
# MAGIC `dbutils.secrets.get`.

# COMMAND ----------

from conf import load_settings

settings = load_settings(dbutils.widgets.get("profile"), secrets=dbutils.secrets.get)
print(f"profile {settings.profile}: event hub {settings.eventhub.name!r}")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Open the stream
# MAGIC
# MAGIC The tutorial's `EventHubsConf(connStr).setMaxEventsPerTrigger(5)` and
# MAGIC `spark.readStream.format("eventhubs").options(...).load()`. `build_stream` registers hubstream's
# MAGIC source with this Spark session (or picks the Scala connector when the profile says
# MAGIC `use_connector = true`) and passes it the same options: connection string, event hub, consumer group,
# MAGIC starting position and `maxEventsPerTrigger`. Nothing is read yet: the schema is the connector's, with
# MAGIC a binary `body`.

# COMMAND ----------

from conf.arguments import positive_int
from jobs.read_events import build_stream

limit = dbutils.widgets.get("max_events_per_trigger")
incoming_stream = build_stream(
    spark,
    settings,
    max_events_per_trigger=positive_int(limit) if limit.strip() else None,
    starting_position=dbutils.widgets.get("starting_position").strip() or None,
)
incoming_stream.printSchema()

# COMMAND ----------

# MAGIC %md
# MAGIC ## Make the columns readable
# MAGIC
# MAGIC The body arrives as bytes, so the tutorial cast it to a string, the offset to a long and the enqueued
# MAGIC time to a timestamp and to epoch seconds, keeping `Offset`, `Time (readable)`, `Timestamp` and `Body`.
# MAGIC `readable` does the same (invalid UTF-8 becomes U+FFFD instead of failing the query; an offset that is
# MAGIC not a number becomes null rather than an error) and adds `Partition`, `SequenceNumber` and the offset
# MAGIC as sent.

# COMMAND ----------

from jobs.transforms import readable

messages = readable(incoming_stream)
messages.printSchema()

# COMMAND ----------

# MAGIC %md
# MAGIC ## Display the stream
# MAGIC
# MAGIC The tutorial wrote the stream to the console in batches (`format("console")`); in a notebook,
# MAGIC `display` starts the streaming query and shows the rows as each micro-batch arrives, at most
# MAGIC `max_events_per_trigger` at a time. The query keeps running, and picks up what SendTweetsToEventHub
# MAGIC sends, until you cancel the cell. For a job that writes files or tables, with a checkpoint so a
# MAGIC restart resumes where it stopped, run `python -m jobs.read_events` (see the README).

# COMMAND ----------

display(messages)
