"""The AsyncAPI 3.0 document of every message livevote's services exchange.

``python -m contracts.asyncapi [PATH]`` (``make asyncapi``) writes it; without PATH it
prints it. It is generated from the message classes and the topology in this package, so
it cannot drift from what the services send.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from contracts.envelope import Envelope, Message, message_types
from contracts.topology import (
    EVENT_SUBSCRIPTIONS,
    SAGA_SUBSCRIPTIONS,
    SERVICES,
    UNPUBLISHED_EVENTS,
    command_queue,
    event_queue,
    routing_keys,
    saga_queue,
    subscribed,
)

NAMESPACE = "livevote"


def contract_messages() -> list[type[Message]]:
    """The messages that cross service boundaries (a service's private events do not)."""
    shared = (m for m in message_types().values() if m.__module__.startswith("contracts."))
    return sorted(shared, key=lambda m: m.type)


def _owner(message: type[Message]) -> str:
    return message.type.split(".", 1)[0]


def _handlers(message: type[Message]) -> list[str]:
    """The services whose command queue accepts ``message``."""
    owner = _owner(message)
    return list(SERVICES) if owner == "system" else [owner]


def _subscribers(message: type[Message]) -> list[str]:
    return [service for service in EVENT_SUBSCRIPTIONS if subscribed(service, message)]


def _queues(service: str, message: type[Message]) -> str:
    """Where ``service`` takes ``message`` from: a saga event from the saga queue of its
    voter's shard (its routing key ends in the shard)."""
    keys = subscribed(service, message)
    if any(key in SAGA_SUBSCRIPTIONS.get(service, ()) for key in keys):
        return f"{saga_queue(service, 0)}, {saga_queue(service, 1)}, ... by the voter's shard"
    return event_queue(service)


def _message_component(message: type[Message], schemas: dict[str, Any]) -> dict[str, Any]:
    payload = message.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(payload.pop("$defs", {}))
    schemas[message.__name__] = payload
    envelope = Envelope.model_json_schema(ref_template="#/components/schemas/{model}")
    envelope["properties"]["type"] = {"const": message.type}
    envelope["properties"]["schema_version"] = {"const": message.schema_version}
    envelope["properties"]["payload"] = {"$ref": f"#/components/schemas/{message.__name__}"}
    kind = "event" if message.routing_key else "command or query"
    return {
        "name": message.type,
        "title": message.__name__,
        "summary": (message.__doc__ or "").strip().splitlines()[0] if message.__doc__ else kind,
        "contentType": "application/json",
        "payload": envelope,
    }


def _publishing(message: type[Message], name: str) -> str:
    keys = routing_keys(message)
    kept = [key for key in keys if key in UNPUBLISHED_EVENTS]
    if not kept:
        return f"{_owner(message)} publishes {name} (persistent, confirmed)"
    if len(kept) == len(keys):
        return f"{_owner(message)} keeps {name} in its store: no process hears it"
    return (
        f"{_owner(message)} publishes {name} (persistent, confirmed), but for"
        f" {', '.join(kept)}, kept in its store: no process hears it"
    )


def build() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for message in contract_messages():
        name = message.__name__
        messages[name] = _message_component(message, schemas)
        ref = {"$ref": f"#/components/messages/{name}"}
        if message.routing_key:
            channel = f"event.{message.routing_key}"
            routed_by = (
                f", its routing key ending in its {message.routed_by} ({message.binding()})"
                if message.routed_by
                else ""
            )
            channels[channel] = {
                "address": message.binding(),
                "description": f"{message.type}, published on the {NAMESPACE}.events exchange"
                + routed_by,
                "messages": {name: ref},
                "bindings": {
                    "amqp": {
                        "is": "routingKey",
                        "exchange": {
                            "name": f"{NAMESPACE}.events",
                            "type": "topic",
                            "durable": True,
                        },
                    }
                },
            }
            channel_ref = {"$ref": f"#/channels/{channel}"}
            message_ref = {"$ref": f"#/channels/{channel}/messages/{name}"}
            operations[f"publish.{message.type}"] = {
                "action": "send",
                "summary": _publishing(message, name),
                "channel": channel_ref,
                "messages": [message_ref],
            }
            for subscriber in _subscribers(message):
                operations[f"{subscriber}.receives.{message.type}"] = {
                    "action": "receive",
                    "summary": f"{subscriber} consumes {name} from {_queues(subscriber, message)}"
                    + f" ({', '.join(subscribed(subscriber, message))})",
                    "channel": channel_ref,
                    "messages": [message_ref],
                }
        else:
            for service in _handlers(message):
                channel = f"command.{service}"
                channels.setdefault(
                    channel,
                    {
                        "address": f"{NAMESPACE}.{command_queue(service)}",
                        "description": f"Commands and queries {service} answers (request-reply)",
                        "messages": {},
                        "bindings": {"amqp": {"is": "queue", "queue": {"durable": True}}},
                    },
                )["messages"][name] = ref
                operations[f"{service}.answers.{message.type}"] = {
                    "action": "receive",
                    "summary": f"{service} answers {name} with a Reply",
                    "channel": {"$ref": f"#/channels/{channel}"},
                    "messages": [{"$ref": f"#/channels/{channel}/messages/{name}"}],
                }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "livevote",
            "version": "1.0.0",
            "description": (
                "Events, commands and queries of livevote's services on RabbitMQ. Every "
                "message is an envelope (id, type, schema version, occurred_at, correlation "
                "and causation ids) around its payload. Names are shown with the default "
                f"namespace '{NAMESPACE}'."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {"local": {"host": "127.0.0.1:5672", "protocol": "amqp"}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


def main() -> None:
    if len(sys.argv) > 1:
        path = Path(sys.argv[1])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render())
    else:
        sys.stdout.write(render())


if __name__ == "__main__":
    main()
