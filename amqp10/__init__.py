"""AMQP 1.0, sans-I/O: bytes in, events out, bytes to send; no sockets, no asyncio, no clock.

The Event Hubs layer (`eventhubs/`) builds on it; the emulator serves with it and hubstream's client
(`hubclient/`) reads with it. Modules, from the bottom up: `types` and `codec` (the type
system), `frames`, `performatives`, `message`, `states` (the state tables), `events`, `session` (a
session and its links) and `connection` (either end; the names the application uses are imported from it).
"""
