"""A local Azure Event Hubs that speaks AMQP 1.0."""
