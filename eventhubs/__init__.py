"""Event Hubs on AMQP 1.0, sans-I/O: what the service and its clients must agree on.

The emulator (`emulator/`, the service's end) and hubstream's client (`hubclient/`, our end) both import
it, so the wire knowledge is written once: `links` (addresses and link properties), `selector` (start
positions), `events` (annotations, batches, stamping), `sas` (tokens), `connection_string`, `nodes`
(`$cbs` and `$management` requests and replies) and `errors` (conditions and their exceptions).
"""
