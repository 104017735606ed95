"""Settings every service reads from the environment."""

from __future__ import annotations

import functools

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class RuntimeSettings(BaseSettings):
    """Broker, store and logging settings shared by all services (prefix ``LIVEVOTE_``)."""

    model_config = SettingsConfigDict(env_prefix="LIVEVOTE_", extra="ignore")

    rabbitmq_url: str = Field(
        default="amqp://guest:guest@127.0.0.1:5672/",
        validation_alias=AliasChoices("LIVEVOTE_RABBITMQ_URL", "RABBITMQ_URL"),
    )
    mongodb_url: str = Field(
        default="mongodb://127.0.0.1:27017/",
        validation_alias=AliasChoices("LIVEVOTE_MONGODB_URL", "MONGODB_URL"),
    )
    # Prefixes every exchange, queue and database, so that several deployments (or test
    # runs) can share one broker and one database server.
    namespace: str = "livevote"
    # RabbitMQ's management API, for queue depths and consumers: by default on the broker's
    # host at port 15672, with the user and password of `rabbitmq_url`.
    rabbitmq_management_url: str | None = None
    rabbitmq_management_user: str | None = None
    rabbitmq_management_password: SecretStr | None = None
    prefetch: int = Field(default=64, ge=1, le=10_000)
    delivery_limit: int = Field(default=5, ge=1, le=100)
    request_timeout_seconds: float = Field(default=5.0, gt=0)
    relay_batch_size: int = Field(default=500, ge=1, le=10_000)
    # How often the lease holder sweeps the store for commits no process published, and
    # how old such a commit must be: younger ones are still on their way out.
    relay_sweep_seconds: float = Field(default=5.0, gt=0)
    relay_grace_seconds: float = Field(default=2.0, ge=0)
    relay_lease_seconds: float = Field(default=10.0, gt=0)
    # How long the relay may hold an event no request waits for
    # (contracts.topology.UNHURRIED_EVENTS) to send it with others of its kind: each
    # message and each append costs every process on its way the same whatever it holds.
    # Well under the grace, or the sweep would publish them as well.
    relay_linger_seconds: float = Field(default=0.2, ge=0, le=1.0)
    # The paid-vote saga's queues per service (contracts.topology.SAGA_SUBSCRIPTIONS): a
    # voter's steps all go to one of them, and each process prefers one (its slot, a
    # lease held for `saga_slot_seconds` and renewed), so set it to the number of voting
    # and wallet processes. Every process of a system must have the same; raise it, never
    # lower it, or what waits in the queues dropped is stranded there.
    saga_shards: int = Field(default=2, ge=1, le=64)
    saga_slot_seconds: float = Field(default=10.0, gt=0)
    log_level: str = "INFO"
    log_format: str = Field(default="json", pattern="^(json|console)$")
    # /healthz and /readyz for the orchestrator's probes (eventing.health); off unless set,
    # and 0 takes any free port. The gateway answers both on its API port instead.
    health_port: int | None = Field(default=None, ge=0, le=65_535)
    # Loopback unless told otherwise, so a run on a workstation opens nothing to the
    # network; in a pod it must be 0.0.0.0 for the kubelet to reach it.
    health_host: str = "127.0.0.1"

    def database_name(self, service: str) -> str:
        return f"{self.namespace}_{service}"


class CacheBounds(BaseSettings):
    """How much each in-process cache of the event-sourcing runtime may hold (prefix
    ``LIVEVOTE_``): what a process keeps in memory grows with these, not with the data."""

    model_config = SettingsConfigDict(env_prefix="LIVEVOTE_", extra="ignore")

    # Aggregates each repository keeps as this process last saved them, so that the next
    # change of one starts without reading its stream (0: none).
    remembered_aggregates: int = Field(default=10_000, ge=0, le=10_000_000)
    # Read-model documents whose version each collection remembers, so that a commit of
    # this process, shown again by the relay before it is published, needs no read.
    known_versions: int = Field(default=100_000, ge=0, le=100_000_000)


@functools.cache
def cache_bounds() -> CacheBounds:
    """The process's bounds, read from the environment once."""
    return CacheBounds()
