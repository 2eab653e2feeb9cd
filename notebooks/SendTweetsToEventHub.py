# Databricks notebook source
# MAGIC %md
# MAGIC # SendTweetsToEventHub
# MAGIC
# MAGIC The producer notebook of the tutorial *Stream data into Azure Databricks using Event Hubs*. It sends
# MAGIC events into an event hub: the tutorial's test strings ("Azure is the greatest!", "Azure isn't working
# MAGIC :(", "Azure is okay.") or recent tweets about Azure. Run **ReadTweetsFromEventHub** afterwards (or at
# MAGIC the same time) to read them with Spark.
# MAGIC
# MAGIC Each step calls the `hubstream` package (`conf` for the settings, `producers` for sending); the
# MAGIC notebook only chooses what to send. Where the tutorial sent one event every 5 seconds with the key
# MAGIC pasted into the cell, hubstream sends in full batches and reads the key from a secret scope.

# COMMAND ----------

# MAGIC %md
# MAGIC ## Before you start
# MAGIC
# MAGIC 1. **Install hubstream on the cluster.** Build the wheel with `make wheel` and add
# MAGIC    `dist/hubstream-0.1.0-py3-none-any.whl` to the cluster as a library (Compute > your cluster >
# MAGIC    Libraries > Install new), or install it for this notebook only, in a cell above this one, with
# MAGIC    `%pip install /Volumes/<catalog>/<schema>/<volume>/hubstream-0.1.0-py3-none-any.whl`.
# MAGIC    The tutorial attached two Maven libraries here (the Event Hubs connector and twitter4j); hubstream
# MAGIC    needs neither.
# MAGIC 2. **Store the connection string in a secret scope**, once:
# MAGIC    `databricks secrets create-scope hubstream`, then
# MAGIC    `databricks secrets put-secret hubstream eventhub-connection-string`. The tutorial built the
# MAGIC    string from the namespace, hub, policy name and key typed into the notebook; the `databricks`
# MAGIC    profile reads it from `{{secrets/hubstream/eventhub-connection-string}}` instead.
# MAGIC 3. **For tweets only:** an X API bearer token in the cluster's environment variable `X_BEARER_TOKEN`
# MAGIC    (cluster > Advanced options > Spark > Environment variables:
# MAGIC    `X_BEARER_TOKEN={{secrets/hubstream/x-bearer-token}}`). The test strings need nothing.

# COMMAND ----------

# MAGIC %md
# MAGIC ## Choose what to send
# MAGIC
# MAGIC - `profile`: a settings profile shipped with hubstream (`databricks`, `azure`, `local`) or the path of
# MAGIC   your own TOML file. It names the event hub and where its connection string comes from.
# MAGIC - `source`: `test` loops over the tutorial's three strings (or sends `message` again and again, if
# MAGIC   set); `twitter` polls X's recent search for `query` (the profile's query when empty) and sends each
# MAGIC   new tweet once, as JSON (`id`, `text`, `author_id`, `created_at`, `lang`).
# MAGIC - `count`: how many events to send. Empty: keep sending until you cancel the cell, as the tutorial's
# MAGIC   endless loop did; what was already read is still sent.

# COMMAND ----------

from conf import available_profiles

dbutils.widgets.combobox("profile", "databricks", available_profiles(), "Settings profile")
dbutils.widgets.dropdown("source", "test", ["test", "twitter"], "Source")
dbutils.widgets.text("count", "100", "Events to send (empty: until cancelled)")
dbutils.widgets.text("message", "", "Test message (empty: the tutorial's three)")
dbutils.widgets.text("query", "", "X search query (empty: the profile's)")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Load the settings
# MAGIC
# MAGIC `load_settings` reads the profile and resolves `{{secrets/<scope>/<key>}}` references with
# MAGIC `dbutils.secrets.get`, so the key never appears in the notebook or its output (`settings` shows `***`
# MAGIC where the key is). Off Databricks, `EVENTHUB_CONNECTION_STRING` replaces the reference.

# COMMAND ----------

from conf import load_settings

settings = load_settings(dbutils.widgets.get("profile"), secrets=dbutils.secrets.get)
print(f"profile {settings.profile}: event hub {settings.eventhub.name!r}")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Pick the source
# MAGIC
# MAGIC The tutorial's `testSource` list and `dataSource` switch. `test_messages` yields the three strings in
# MAGIC a loop; `tweets` replaces twitter4j's search for " #Azure " (English, no retweets) with the X API v2
# MAGIC recent search through tweepy, remembering the newest tweet so nothing is sent twice and waiting out
# MAGIC rate limits. Nothing is sent yet: both are lazy.

# COMMAND ----------

import os

from conf.arguments import positive_int
from producers.sources.test import test_messages
from producers.sources.twitter import bearer_token_from_env, tweets

if dbutils.widgets.get("source") == "twitter":
    events = tweets(
        bearer_token=bearer_token_from_env(os.environ, settings.producer.twitter_bearer_token_env),
        query=dbutils.widgets.get("query") or settings.producer.twitter_query,
        poll_interval_s=settings.producer.twitter_poll_interval_s,
    )
else:
    events = test_messages(dbutils.widgets.get("message") or None)
count = positive_int(dbutils.widgets.get("count")) if dbutils.widgets.get("count").strip() else None

# COMMAND ----------

# MAGIC %md
# MAGIC ## Send
# MAGIC
# MAGIC The tutorial's `sendEvent` wrapped each string in an `EventData`, sent it alone and slept 5 seconds.
# MAGIC `send_events` fills `create_batch()` batches up to the hub's size limit and sends one while it builds
# MAGIC the next; a partly filled batch leaves after the profile's `linger_s`, so a slow source still flows,
# MAGIC and the profile's `rate` (events/s) paces it if set. It returns when `count` events are sent (or the
# MAGIC cell is cancelled), closes the connection, and reports what went out.

# COMMAND ----------

from producers import send_events

stats = send_events(settings, events, count=count)
print(stats.summary())
