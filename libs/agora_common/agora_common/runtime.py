"""One lifespan for every service that owns a database: its MongoDB client, the unit of work, the outbox relay
that publishes what the unit of work committed, the consumers of other services' events, and a bounded shutdown.

    def create_app(settings: Settings | None = None) -> FastAPI:
        settings = settings or Settings()

        async def setup(app: FastAPI, runtime: ServiceRuntime) -> None:
            await ensure_indexes(runtime.db)
            app.state.store = store = Store(db=runtime.db, transactions=runtime.transactions)
            runtime.consume("activity", topics=[...], handler=partial(handle, store=store))

        return create_service_app(settings, topic=topics.users, setup=setup, title=..., routers=[...])

`setup` runs once the clients exist; the relay and the consumers start after it, and everything stops in
bounded steps when the app shuts down. `/readyz` checks the database. The lag of every consumer declared with
`consume` is asked of the broker by a monitor of its own (`agora_common.consumer_lag`), so it keeps being reported
while a consumer is down.

Names are derived one way: a consumer group is `<prefix><service>.<name>` and a Kafka client id is
`<service>-<role>`, so the broker's group and client lists say who is who.
"""

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Self

from fastapi import APIRouter, FastAPI

from agora_common.consumer_lag import ConsumerLagMonitor
from agora_common.kafka import BatchHandler, EventConsumer, EventPublisher, Handler, SupervisedConsumer, ensure_topics
from agora_common.lifecycle import shut_down
from agora_common.mongo import make_client, ping
from agora_common.outbox import OutboxRelay
from agora_common.settings import ServiceSettings
from agora_common.topics import Topics
from agora_common.uow import Transactions
from agora_common.web import create_app


def group_id(settings: ServiceSettings, name: str) -> str:
    """The consumer group of one of a service's consumers."""
    return f"{settings.topic_prefix}{settings.service_name}.{name}"


def client_id(settings: ServiceSettings, role: str) -> str:
    """The Kafka client id of one of a service's clients (shows in the broker's logs and metrics)."""
    return f"{settings.service_name}-{role}"


class ServiceRuntime:
    """What a service with its own database holds while it runs; created in its lifespan, closed on the way out."""

    def __init__(self, settings: ServiceSettings, *, topic: str) -> None:
        self.settings = settings
        self.topics = Topics(settings.topic_prefix)
        self.client = make_client(settings)
        self.db = self.client[settings.mongo_db]
        self.publisher = EventPublisher(settings.kafka, client_id=client_id(settings, "outbox"))
        # the relay creates the topics once the broker answers (and again if it restarted empty): the service
        # serves requests while the broker is down
        self.relay = OutboxRelay(
            self.db, self.publisher, topics=self.topics.all(), partitions=settings.topic_partitions,
            poll_interval=settings.outbox_poll_interval, retry_delay=settings.outbox_retry_delay,
            create_topics=settings.create_topics,
        )
        self.transactions = Transactions(
            self.client, self.db, topic=topic, notify=self.relay.notify,
            max_attempts=settings.transaction_max_attempts, time_limit=settings.transaction_time_limit_s,
        )
        self.consumers: dict[str, SupervisedConsumer] = {}
        self._enabled: set[str] = set()
        self.lag = ConsumerLagMonitor(settings.kafka, interval=settings.consumer_lag_interval_s,
                                      client_id=client_id(settings, "lag"))

    def consume(
        self, name: str, *, topics: list[str], handler: Handler | None = None,
        batch_handler: BatchHandler | None = None, enabled: bool = True,
    ) -> SupervisedConsumer:
        """Declare a consumer of `topics` (started by `start` unless disabled); kept running while the broker
        comes and goes."""
        settings = self.settings

        def make() -> EventConsumer:
            return EventConsumer(
                kafka=settings.kafka, topics=topics, group_id=group_id(settings, name),
                client_id=client_id(settings, name), dead_letter_topic=self.topics.dead_letter,
                handler=handler, batch_handler=batch_handler,
            )

        consumer = SupervisedConsumer(
            make, prepare=lambda: ensure_topics(settings.kafka, self.topics.all(),
                                                partitions=settings.topic_partitions, create=settings.create_topics),
        )
        self.consumers[name] = consumer
        if enabled:
            self._enabled.add(name)
            self.lag.watch(group_id(settings, name), topics)
        return consumer

    async def start(self) -> None:
        await self.relay.start()
        for name in self._enabled:
            self.consumers[name].start()
        self.lag.start()  # if any consumer is enabled

    async def close(self) -> None:
        await shut_down(
            ("consumer lag monitor", self.lag.stop),
            *[(f"consumer {name}", consumer.stop) for name, consumer in self.consumers.items()],
            ("outbox relay", self.relay.stop),
            ("publisher", self.publisher.stop),
            ("database client", self.client.close),
            budget=self.settings.shutdown_budget_s,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


Setup = Callable[[FastAPI, ServiceRuntime], Awaitable[None]]


def create_service_app(
    settings: ServiceSettings, *, topic: str, setup: Setup, title: str, description: str,
    routers: Sequence[APIRouter],
) -> FastAPI:
    """The app of a service that owns a database and publishes to `topic` through its outbox."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with ServiceRuntime(settings, topic=topic) as runtime:
            app.state.runtime = runtime
            await setup(app, runtime)
            await runtime.start()
            yield

    async def database(app: FastAPI) -> None:
        await ping(app.state.runtime.db)

    return create_app(settings=settings, title=title, description=description, routers=routers,
                      lifespan=lifespan, readiness_checks=[database])
