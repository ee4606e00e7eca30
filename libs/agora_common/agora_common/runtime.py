"""One lifespan for every service that owns a database: its MongoDB client, the unit of work, the outbox relay
that publishes what the unit of work committed, the consumers of other services' events, and a bounded shutdown.

    @asynccontextmanager
    async def lifespan(app):
        async with ServiceRuntime(settings, topic=topics.users) as runtime:
            await ensure_indexes(runtime.db)
            store = Store(runtime=runtime, ...)
            runtime.consume("activity", topics=[...], batch_handler=..., enabled=settings.consume_events)
            await runtime.start()       # relay and consumers run from here on
            app.state.store = store
            yield                       # leaving the block stops everything, each step within its time limit

Names are derived one way: a consumer group is `<prefix><service>.<name>` and a Kafka client id is
`<service>-<role>`, so the broker's group and client lists say who is who.
"""

import logging
from types import TracebackType
from typing import Self

from agora_common.kafka import BatchHandler, EventConsumer, EventPublisher, Handler, SupervisedConsumer, ensure_topics
from agora_common.lifecycle import shut_down
from agora_common.mongo import make_client
from agora_common.outbox import OutboxRelay
from agora_common.settings import ServiceSettings
from agora_common.topics import Topics
from agora_common.uow import Transactions

log = logging.getLogger(__name__)


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
        self.publisher = EventPublisher(settings.kafka_bootstrap, client_id=client_id(settings, "outbox"))
        # the relay creates the topics once the broker answers (and again if it restarted empty): the service
        # serves requests while the broker is down
        self.relay = OutboxRelay(
            self.db, self.publisher, topics=self.topics.all(), partitions=settings.topic_partitions,
            poll_interval=settings.outbox_poll_interval, retry_delay=settings.outbox_retry_delay,
        )
        self.transactions = Transactions(
            self.client, self.db, topic=topic, notify=self.relay.notify,
            max_attempts=settings.transaction_max_attempts, time_limit=settings.transaction_time_limit_s,
        )
        self.consumers: dict[str, SupervisedConsumer] = {}
        self._enabled: set[str] = set()

    def consume(
        self, name: str, *, topics: list[str], handler: Handler | None = None,
        batch_handler: BatchHandler | None = None, enabled: bool = True,
    ) -> SupervisedConsumer:
        """Declare a consumer of `topics` (started by `start` unless disabled); kept running while the broker
        comes and goes."""
        settings = self.settings

        def make() -> EventConsumer:
            return EventConsumer(
                bootstrap=settings.kafka_bootstrap, topics=topics, group_id=group_id(settings, name),
                client_id=client_id(settings, name), dead_letter_topic=self.topics.dead_letter,
                handler=handler, batch_handler=batch_handler,
            )

        consumer = SupervisedConsumer(
            make, prepare=lambda: ensure_topics(settings.kafka_bootstrap, self.topics.all(),
                                                partitions=settings.topic_partitions),
        )
        self.consumers[name] = consumer
        if enabled:
            self._enabled.add(name)
        return consumer

    async def start(self) -> None:
        await self.relay.start()
        for name in self._enabled:
            self.consumers[name].start()

    async def close(self) -> None:
        await shut_down(
            *[(f"consumer {name}", consumer.stop) for name, consumer in self.consumers.items()],
            ("outbox relay", self.relay.stop),
            ("publisher", self.publisher.stop),
            ("database client", self.client.close),
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
