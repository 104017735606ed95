"""Messages every service answers, whatever its domain."""

from contracts.envelope import Message


class Ping(Message):
    """Query: is the service up and consuming? Answered with its name."""

    type = "system.Ping"
