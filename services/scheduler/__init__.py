"""The scheduler: durable timers that turn a voting's schedule into events on time."""
