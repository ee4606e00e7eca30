"""In-memory stand-ins for the kernel's unit of work and publisher, for millisecond tests of the service layer
(cosmicpython's fakes). The use cases run unchanged against an in-memory database (mongomock) and the events
they emit are kept in a list instead of an outbox.

What they do not do, and the integration tests do (against real servers): transactions (a body that fails
half-way keeps its writes here), write conflicts and their retries, the outbox relay, Kafka.
"""

from collections.abc import Awaitable, Callable, Collection
from typing import TypeVar

from agora_common.events import Envelope
from agora_common.uow import UnitOfWork
from mongomock_motor import AsyncMongoMockClient

T = TypeVar("T")


def memory_database(name: str = "agora"):
    """A fresh in-memory database with the async collection API the services use."""
    return AsyncMongoMockClient(tz_aware=True)[name]


class FakeTransactions:
    """`Transactions` in memory: runs each body once, without a session, and keeps the events it emits."""

    def __init__(self, db) -> None:
        self.db = db
        self.published: list[Envelope] = []
        self.queued: list[list[str]] = []  # the keys each unit named to run one at a time

    async def run(self, body: Callable[[UnitOfWork], Awaitable[T]], *, one_at_a_time: Collection[str] = ()) -> T:
        self.queued.append(sorted(one_at_a_time))
        uow = UnitOfWork(self.db, session=None)  # type: ignore[arg-type]  # mongomock takes session=None
        result = await body(uow)
        self.published.extend(uow.envelopes)
        return result

    def types(self) -> list[str]:
        return [e.type for e in self.published]


class FakePublisher:
    """`EventPublisher` in memory: every envelope is acknowledged and kept, by topic."""

    def __init__(self) -> None:
        self.sent: dict[str, list[Envelope]] = {}

    async def publish(self, topic: str, envelope: Envelope) -> None:
        self.sent.setdefault(topic, []).append(envelope)

    async def publish_many(self, topic: str, envelopes: list[Envelope]) -> list[bool]:
        self.sent.setdefault(topic, []).extend(envelopes)
        return [True] * len(envelopes)

    async def stop(self) -> None:
        pass
