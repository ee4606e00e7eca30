"""Kafka publishing and consuming.

- `EventPublisher`: acks=all, keyed by the aggregate id so one aggregate's events stay in one partition, in order.
  No idempotent producer: the embedded broker refuses it, and consumers deduplicate by event id anyway.
- `EventConsumer`: at-least-once (offsets committed after handling). An event that cannot be parsed or that
  its handler rejects as bad goes to the dead-letter topic with the reason, and the consumer keeps going. Its lag
  is measured from the broker by `agora_common.consumer_lag`, not in its loop (which stops when it dies).
- `LostLogs`: finds the partitions whose log a broker lost (the embedded one comes back empty after a crash), for
  a long-lived consumer to read them again.
- `ensure_topics`: creates missing topics (install jobs, local runs, tests). Nothing else creates one: no Agora
  client asks the broker to create a topic it names (see `_NamedTopicsOnly`).
- `KafkaConnection`: the brokers and how to reach them (TLS, SASL); every client above is made from one.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import aiokafka.client
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, UnknownTopicOrPartitionError
from aiokafka.helpers import create_ssl_context
from aiokafka.protocol.metadata import MetadataRequest

from agora_common import metrics
from agora_common.events import BadEvent, Envelope
from agora_common.lifecycle import cancel_and_wait
from agora_common.retry import until_done

log = logging.getLogger(__name__)

Handler = Callable[[Envelope], Awaitable[None]]
BatchHandler = Callable[[list[Envelope]], Awaitable[None]]


def _same(these: tuple, those: tuple) -> bool:
    return len(these) == len(those) and all(a is b for a, b in zip(these, those, strict=True))


class _NamedTopicsOnly(MetadataRequest):
    """A metadata request that never asks the broker to create the topics it names. aiokafka's asks (as the
    protocol's default does), and a broker that allows it creates the topic with its own default partition count
    (the embedded one: 4; Kafka: `num.partitions`), not the count the keyed state was built on. That happens
    whenever a consumer or producer looks up a topic that is gone, e.g. on a broker that came back empty. So
    every aiokafka client in the process uses this request, and only `ensure_topics` creates topics."""

    def __init__(self, topics: list[str] | None = None, allow_auto_topic_creation: bool | None = False) -> None:
        super().__init__(topics, allow_auto_topic_creation)


aiokafka.client.MetadataRequest = _NamedTopicsOnly  # where aiokafka's clients build theirs

# Short group timeouts: the default ones make a (re)join take ~30 s on the embedded broker.
CONSUMER_TIMEOUTS = {"session_timeout_ms": 10_000, "heartbeat_interval_ms": 1_000, "rebalance_timeout_ms": 10_000}


@dataclass(frozen=True, slots=True)
class KafkaConnection:
    """Where the brokers are and how to talk to them (TLS, SASL): every Kafka client Agora makes comes from one,
    so a secured cluster is one setting away (`ServiceSettings.kafka`)."""

    bootstrap: str
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: str | None = None  # the CA that signed the brokers' certificates (default: the system's)
    ssl_certfile: str | None = None  # a client certificate, for brokers that authenticate clients by TLS
    ssl_keyfile: str | None = None

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka's producer, consumer and admin client."""
        options: dict[str, Any] = {"bootstrap_servers": self.bootstrap, "security_protocol": self.security_protocol}
        if self.security_protocol in ("SSL", "SASL_SSL"):
            options["ssl_context"] = create_ssl_context(cafile=self.ssl_cafile, certfile=self.ssl_certfile,
                                                        keyfile=self.ssl_keyfile)
        if self.security_protocol.startswith("SASL"):
            if not (self.sasl_mechanism and self.sasl_username and self.sasl_password):
                raise ValueError(f"{self.security_protocol} needs a SASL mechanism, user name and password")
            options |= {"sasl_mechanism": self.sasl_mechanism, "sasl_plain_username": self.sasl_username,
                        "sasl_plain_password": self.sasl_password}
        return options


Kafka = KafkaConnection | str  # a plain "host:port[,host:port]" means PLAINTEXT


def kafka_connection(kafka: Kafka) -> KafkaConnection:
    return kafka if isinstance(kafka, KafkaConnection) else KafkaConnection(kafka)


class TopicsMissing(RuntimeError):
    """Topics this service does not create are not there yet (in production the setup job creates them)."""


async def ensure_topics(kafka: Kafka, names: Iterable[str], *, partitions: int = 3, replication: int = 1,
                        create: bool = True, configs: dict[str, str] | None = None) -> None:
    """Create the topics that are missing (with these topic configs, e.g. retention), or, with `create=False`
    (production: topics are code, made by the setup job with their replication and retention), raise
    TopicsMissing until they exist."""
    admin = AIOKafkaAdminClient(**kafka_connection(kafka).client_options())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        if not create:
            if absent := [n for n in dict.fromkeys(names) if n not in existing]:
                raise TopicsMissing(f"waiting for topics the setup job creates: {', '.join(absent)}")
            return
        # each name once: a real broker refuses a CreateTopics request naming a topic twice (INVALID_REQUEST)
        missing = [NewTopic(n, partitions, replication, topic_configs=configs or {})
                   for n in dict.fromkeys(names) if n not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another process created it first
                await admin.create_topics(missing)
    finally:
        await admin.close()


class EventPublisher:
    def __init__(self, kafka: Kafka, *, client_id: str = "agora") -> None:
        self.kafka = kafka_connection(kafka)
        self._options = {
            **self.kafka.client_options(), "client_id": client_id, "acks": "all", "linger_ms": 2,
            "request_timeout_ms": 10_000,
        }
        self._producer: AIOKafkaProducer | None = None  # made at start: an unstarted one warns when collected
        self._started = False
        self._asked_over: dict[str, tuple] = {}  # topic -> the connections missing_since_reconnect asked over

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(**self._options)
        try:
            await self._producer.start()
        except Exception:
            await self._producer.stop()  # a producer whose start failed cannot be started again
            self._producer = None
            raise
        self._started = True

    async def ensure_started(self) -> AIOKafkaProducer:
        """Start on first use: lets a service boot while the broker is down (the outbox relay retries)."""
        if not self._started or self._producer is None:
            await self.start()
        assert self._producer is not None  # start() made it or raised
        return self._producer

    async def stop(self, timeout: float = 10.0) -> None:
        producer, self._producer, self._started = self._producer, None, False
        if producer is not None:
            try:  # bounded: flushing to a broker that is gone would otherwise wait out every request timeout
                await asyncio.wait_for(producer.stop(), timeout=timeout)
            except (Exception, TimeoutError):  # noqa: BLE001 - nothing left to save in a failed producer
                log.warning("producer did not stop cleanly")

    async def missing_topics(self, names: Iterable[str]) -> list[str]:
        """Which of these topics the broker does not have (one metadata request naming them, which creates
        nothing). Cheap enough to ask before every batch: a broker that came back empty acknowledges writes to
        topics it no longer has (the embedded one does, and drops them), so a producer's cached metadata is not
        enough."""
        producer = await self.ensure_started()
        names = list(dict.fromkeys(names))
        node = producer.client.get_random_node()
        if node is None:
            raise KafkaError("no broker known to ask for topics")
        response = await producer.client.send(node, _NamedTopicsOnly(names))
        return [topic for error, topic, *_ in response.topics if error == UnknownTopicOrPartitionError.errno]

    async def missing_since_reconnect(self, names: Iterable[str]) -> list[str]:
        """missing_topics, asked only if the producer talks to the brokers over other connections than at the
        last ask: a broker that restarted (and may have come back empty, acknowledging writes it drops) is always
        reached over a new one. Otherwise nothing to ask (a look at aiokafka's connections; a metadata request
        before every send took the points stages' sends from ~85 to ~160 ms a batch at 2,000 events/s)."""
        producer = await self.ensure_started()
        connections = tuple(producer.client._conns.values())  # aiokafka's, by node: held so ids are not reused
        names = [n for n in dict.fromkeys(names) if not _same(self._asked_over.get(n, ()), connections)]
        if not names:
            return []
        missing = await self.missing_topics(names)
        for name in names:  # per topic: one send's look says nothing of another topic's writes meanwhile
            self._asked_over[name] = connections
        return missing

    async def reset(self) -> None:
        """Drop the producer after a failure; the next publish starts a fresh one (fresh metadata and
        connections: a broker that restarted, or moved partition leaders, can leave the old one stuck)."""
        await self.stop(timeout=2.0)

    async def publish(self, topic: str, envelope: Envelope) -> None:
        producer = await self.ensure_started()
        await producer.send_and_wait(topic, envelope.to_bytes(), key=envelope.subject.encode())
        metrics.EVENTS_PUBLISHED.labels(topic, envelope.type).inc()

    async def publish_many(self, topic: str, envelopes: list[Envelope]) -> list[bool]:
        """Send a batch (in order per key) and wait until EVERY message has succeeded or failed; returns which
        ones the broker acknowledged. Waiting for all of them matters: a message still queued in the producer
        after an early failure could be delivered later, after the caller retried it (a duplicate)."""
        producer = await self.ensure_started()
        futures: list[asyncio.Future] = []
        error: Exception | None = None
        for e in envelopes:
            try:
                futures.append(await producer.send(topic, e.to_bytes(), key=e.subject.encode()))
            except Exception as exc:  # noqa: BLE001 - e.g. no metadata: the rest waits for the next try
                error = exc
                break
        results = await asyncio.gather(*futures, return_exceptions=True)
        acked = [not isinstance(r, BaseException) for r in results]
        for e, ok in zip(envelopes, acked, strict=True):
            if ok:
                metrics.EVENTS_PUBLISHED.labels(topic, e.type).inc()
        if error is not None:
            log.warning("publish interrupted", extra={"topic": topic, "error": str(error)[:200]})
        return acked + [False] * (len(envelopes) - len(acked))

    async def publish_raw(self, topic: str, value: bytes | None, *, key: bytes | None, headers: list) -> None:
        producer = await self.ensure_started()
        await producer.send_and_wait(topic, value, key=key, headers=headers)


class DeadLetters:
    """The one way an event that cannot be handled leaves the stream: to the dead-letter topic, as it arrived,
    with why (`x-agora-reason`, `x-agora-error`), where from (`x-agora-origin`: topic/partition/offset) and who
    refused it (`x-agora-group`), and counted in `agora_events_dead_lettered_total`."""

    def __init__(self, kafka: Kafka, *, topic: str, group_id: str, client_id: str = "agora") -> None:
        self.topic = topic
        self.group_id = group_id
        self._kafka = kafka_connection(kafka)
        self._client_id = f"{client_id}-deadletter"
        self._producer: AIOKafkaProducer | None = None  # made on first use: most consumers never need it

    async def send(self, value: bytes | None, *, key: bytes | None, reason: str, message: str,
                   origin: str | None = None) -> None:
        log.warning("dead-lettering event", extra={"group": self.group_id, "reason": reason,
                                                   "detail": message[:500], "origin": origin})
        if self._producer is None:
            producer = AIOKafkaProducer(**self._kafka.client_options(), client_id=self._client_id, acks="all")
            try:
                await producer.start()
            except Exception:
                await producer.stop()  # release what a half-done start opened
                raise
            self._producer = producer
        headers = [("x-agora-reason", reason.encode()), ("x-agora-error", message[:1000].encode()),
                   ("x-agora-group", self.group_id.encode())]
        if origin:
            headers.append(("x-agora-origin", origin.encode()))
        await self._producer.send_and_wait(self.topic, value, key=key, headers=headers)
        metrics.EVENTS_DEAD_LETTERED.labels(self.group_id, reason).inc()

    async def stop(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()


class EventConsumer:
    """Consumes domain topics and hands each batch of valid envelopes to a handler.

    The handler must be idempotent (events can arrive twice). If it raises `BadEvent` for a single-event
    handler, that event is dead-lettered; any other exception stops the consumer without committing, so the
    batch is redelivered after a restart (nothing lost).
    """

    def __init__(
        self,
        *,
        kafka: Kafka,
        topics: list[str],
        group_id: str,
        client_id: str = "agora",
        dead_letter_topic: str,
        handler: Handler | None = None,
        batch_handler: BatchHandler | None = None,
        max_batch: int = 500,
        from_beginning: bool = True,
        consumer_options: dict | None = None,
    ) -> None:
        if (handler is None) == (batch_handler is None):
            raise ValueError("give exactly one of handler or batch_handler")
        self.group_id = group_id
        self.topics = topics
        self._handler = handler
        self._batch_handler = batch_handler
        self._max_batch = max_batch
        self._consumer = AIOKafkaConsumer(
            **kafka_connection(kafka).client_options(),
            group_id=group_id,
            client_id=client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest" if from_beginning else "latest",
            **(CONSUMER_TIMEOUTS | (consumer_options or {})),  # e.g. a shorter fetch_max_wait_ms
        )
        self._consumer.subscribe(topics)
        self.lost_logs = LostLogs(self._consumer)
        self.dead_letters = DeadLetters(kafka, topic=dead_letter_topic, group_id=group_id, client_id=client_id)
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        await self._consumer.start()
        self._task = asyncio.create_task(self._run(), name=f"consumer-{self.group_id}")

    async def stop(self) -> None:
        if error := await cancel_and_wait(self._task):  # already visible through `running` while it ran
            log.debug("consumer loop had failed", exc_info=error)
        await self._consumer.stop()
        await self.dead_letters.stop()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=500, max_records=self._max_batch)
            for tp, records in batches.items():
                await self._handle_records(records)
                await self._consumer.commit({tp: records[-1].offset + 1})
            for tp in await self.lost_logs.find():
                self._consumer.seek(tp, 0)

    async def _handle_records(self, records: list[ConsumerRecord]) -> None:
        good: list[Envelope] = []
        for record in records:
            try:
                envelope = Envelope.from_bytes(record.value)
                envelope.payload()  # validates the typed payload up front
            except BadEvent as exc:
                await self.dead_letter(record, exc.reason, str(exc))
                continue
            good.append(envelope)
        if not good:
            return
        if self._batch_handler is not None:
            await self._batch_handler(good)
        else:
            assert self._handler is not None
            for envelope in good:
                try:
                    await self._handler(envelope)
                except BadEvent as exc:
                    await self.dead_letter_envelope(envelope, exc.reason, str(exc))
        now = datetime.now(UTC)
        for envelope in good:
            metrics.EVENTS_CONSUMED.labels(self.group_id, records[0].topic, envelope.type).inc()
            metrics.EVENT_AGE.labels(self.group_id).observe(max((now - envelope.time).total_seconds(), 0.0))

    async def dead_letter(self, record: ConsumerRecord, reason: str, message: str) -> None:
        await self.dead_letters.send(record.value, key=record.key, reason=reason, message=message,
                                     origin=f"{record.topic}/{record.partition}/{record.offset}")

    async def dead_letter_envelope(self, envelope: Envelope, reason: str, message: str) -> None:
        """An event that parsed but that a handler refused (its original record is no longer at hand)."""
        await self.dead_letters.send(envelope.to_bytes(), key=envelope.subject.encode(), reason=reason,
                                     message=message)


class LostLogs:
    """Finds a consumer's assigned partitions whose log was lost, for the caller to read again from the start
    (safe: every consumer ignores what it has already seen). Kafka keeps its logs; the embedded broker of
    `make run` and the tests keeps nothing, and comes back empty after a crash. Two signs, checked in turn:
    - the cluster id changed (`start_kafka` gives each embedded broker its own): every log is new. Exact, where
      the next sign misses a new log that has already grown to the old position (its records below it would
      then never be read: a flaky outage test showed it);
    - a log now ends before the position read to (also offsets of an old log committed to the new one). Kafka
      answers a fetch past the end with OFFSET_OUT_OF_RANGE and the reset policy rereads the log; the embedded
      broker answers with nothing, so new records would wait until the new log outgrew the old position."""

    def __init__(self, consumer: AIOKafkaConsumer, *, check_every: float = 1.0, cluster_id: str | None = None
                 ) -> None:
        self._consumer = consumer
        self._check_every = check_every  # a metadata request each time: not on every fetch of a busy loop
        self._next_check = 0.0
        self.cluster_id = cluster_id  # the one seen last (a replaced consumer's, to tell a broker changed meanwhile)

    async def find(self, *, handled: Mapping[TopicPartition, int] | None = None) -> list[TopicPartition]:
        """handled: judge by how far the caller handled each partition instead (only those it names), for a
        caller that keeps that itself and must not wait on the consumer's position."""
        read = [tp for tp in self._consumer.assignment() if handled is None or handled.get(tp, 0) > 0]
        if not read:  # nothing read that a new log could hide, e.g. amid a rebalance: the cluster id is judged
            return []  # later, or a change seen now would be spent, and the partitions assigned next (resuming
            # from offsets of the old log, committed to the new broker) would skip the new log's first records
        before = self.cluster_id
        if await self._cluster_changed():
            log.warning("the broker's cluster id is now %s, not %s: its logs are new; reading %d partitions again",
                        self.cluster_id, before, len(read))
            return read
        lost = []
        for tp in read:
            end = self._consumer.highwater(tp)  # from the latest fetch response: None until one came
            if end is None:
                continue
            if handled is not None:
                position = handled[tp]
            else:
                try:  # bounded: position() waits while the consumer resets a partition's offset
                    position = await asyncio.wait_for(self._consumer.position(tp), timeout=1.0)
                except (TimeoutError, KafkaError):
                    continue
            if end < position:
                log.warning("partition %s ends at %d, before the %d read here: its log was lost; reading it again",
                            tp, end, position)
                lost.append(tp)
        return lost

    async def _cluster_changed(self) -> bool:
        now = time.monotonic()
        if now < self._next_check:
            return False
        self._next_check = now + self._check_every
        client = self._consumer._client  # aiokafka keeps no cluster id: ask a broker (metadata v2+ answers it)
        node = client.get_random_node()
        if node is None:
            return False
        try:
            response = await asyncio.wait_for(client.send(node, MetadataRequest([])), timeout=5.0)
        except (TimeoutError, KafkaError):  # unreachable now: judged at the next check
            return False
        cluster = getattr(response, "cluster_id", None)
        if not cluster:
            return False
        before, self.cluster_id = self.cluster_id, cluster
        return before is not None and cluster != before


class SupervisedConsumer:
    """Keeps an EventConsumer running in the background so that a service boots and serves while the broker is
    down: `prepare` (e.g. topic creation) and the consumer are retried until they start, and a consumer that
    stops (its handler failed; the uncommitted batch is redelivered) is replaced by a fresh one."""

    def __init__(
        self,
        make: Callable[[], EventConsumer],
        *,
        prepare: Callable[[], Awaitable[None]] | None = None,
        retry_delay: float = 2.0,
        stop_timeout: float = 3.0,
        start_wait: float = 3.0,
    ) -> None:
        self._make = make
        self._prepare = prepare
        self._retry_delay = retry_delay
        self._stop_timeout = stop_timeout
        self._start_wait = start_wait
        self._task: asyncio.Task | None = None
        self._starting: asyncio.Future | None = None
        self.consumer: EventConsumer | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="consumer-supervisor")

    @property
    def running(self) -> bool:
        return self.consumer is not None and self.consumer.running

    async def _run(self) -> None:
        if self._prepare is not None:
            await until_done(self._prepare, what="consumer preparation", first=self._retry_delay)
        await until_done(self._run_consumer, what="consumer", first=self._retry_delay)

    async def _run_consumer(self) -> None:
        """One consumer's life: start it, watch it; it only ends by failing (broker down, handler failure)."""
        known = self.consumer.lost_logs.cluster_id if self.consumer is not None else None
        await self._stop_consumer()  # what a failed run left behind
        self.consumer = self._make()
        self.consumer.lost_logs.cluster_id = known  # a broker that came back empty meanwhile is still told
        running = metrics.CONSUMER_RUNNING.labels(self.consumer.group_id)
        running.set(0)
        # shielded: cancelling a half-done start leaves connections that never close cleanly
        self._starting = asyncio.ensure_future(self.consumer.start())
        await asyncio.shield(self._starting)
        running.set(1)
        try:
            while self.consumer.running:
                await asyncio.sleep(1.0)
        finally:
            running.set(0)
        task = self.consumer._task
        error = task.exception() if task is not None and task.done() and not task.cancelled() else None
        raise RuntimeError(f"consumer {self.consumer.group_id} stopped: {error!r}") from error

    async def _stop_consumer(self) -> None:
        if self.consumer is not None:
            try:
                # bounded: leaving the group can hang while the broker is away or a join is in flight
                await asyncio.wait_for(self.consumer.stop(), timeout=self._stop_timeout)
            except (Exception, TimeoutError):  # noqa: BLE001 - it may never have started
                log.warning("consumer did not stop cleanly")
            self.consumer = None

    async def stop(self) -> None:
        if self._starting is not None and not self._starting.done():
            await asyncio.wait([self._starting], timeout=self._start_wait)  # let a start in flight finish
            if not self._starting.done():
                self._starting.cancel()
        await cancel_and_wait(self._task)
        await self._stop_consumer()
