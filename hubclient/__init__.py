"""hubstream's own Event Hubs client over `amqp10`: a connection authorized for a hub (`connection`),
a partition receiver (`receiver`) and the `$management` reader (`management`). Blocking I/O, one
socket per connection; it speaks to the service as the azure-eventhub SDK does.
"""
