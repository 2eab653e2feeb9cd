"""AMQP 1.0, sans-I/O: bytes in, events out, bytes to send; no sockets, no asyncio, no clock.

The emulator serves Event Hubs with it (`emulator/`) and the Spark source's executors read partitions
with it (`jobs/eventhubs/receiver.py`). Modules, from the bottom up: `types` and `codec` (the type
system), `frames`, `performatives`, `message`, and `connection` (either end's state machine).
"""
