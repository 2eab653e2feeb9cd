"""Event Hubs semantics on top of the AMQP 1.0 layer."""
