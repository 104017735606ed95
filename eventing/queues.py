"""The namespace's queues as RabbitMQ's management API reports them: depth and consumers.

Read over HTTP from the management plugin (the local stack enables it on loopback; in
production the operators' RabbitMQ has it) rather than from CLI output. Unless told
otherwise it is found where the broker is, with the broker's credentials.
"""

from __future__ import annotations

from urllib.parse import quote, unquote, urlsplit

import httpx
from pydantic import BaseModel

from eventing.settings import RuntimeSettings


class QueueFacts(BaseModel):
    name: str
    messages: int
    consumers: int


class QueuesUnavailable(Exception):
    """The management API did not answer, or refused the credentials."""


# The management plugin's port, unless RabbitMQ is told otherwise.
MANAGEMENT_PORT = 15672


class Queues:
    def __init__(self, settings: RuntimeSettings, timeout: float = 2.0) -> None:
        self._prefix = f"{settings.namespace}."
        broker = urlsplit(settings.rabbitmq_url)
        base = settings.rabbitmq_management_url or f"http://{broker.hostname}:{MANAGEMENT_PORT}"
        vhost = unquote(broker.path.removeprefix("/")) or "/"
        self._url = f"{base.rstrip('/')}/api/queues/{quote(vhost, safe='')}"
        password = settings.rabbitmq_management_password
        self._auth = (
            settings.rabbitmq_management_user or unquote(broker.username or "guest"),
            password.get_secret_value() if password else unquote(broker.password or "guest"),
        )
        self._timeout = timeout

    async def facts(self) -> list[QueueFacts]:
        """Every queue of the namespace, by name, without the namespace prefix; reply
        queues (one per process, named ``replies.*``) are left out."""
        try:
            async with httpx.AsyncClient(auth=self._auth, timeout=self._timeout) as client:
                answer = await client.get(self._url, params={"columns": "name,messages,consumers"})
                answer.raise_for_status()
        except httpx.HTTPError as error:
            raise QueuesUnavailable(f"RabbitMQ's management API: {error!r}") from error
        facts = [
            QueueFacts(
                name=queue["name"].removeprefix(self._prefix),
                messages=int(queue.get("messages") or 0),
                consumers=int(queue.get("consumers") or 0),
            )
            for queue in answer.json()
            if queue["name"].startswith(self._prefix)
            and not queue["name"].startswith(f"{self._prefix}replies.")
        ]
        return sorted(facts, key=lambda queue: queue.name)
