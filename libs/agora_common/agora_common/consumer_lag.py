"""Consumer lag as the broker sees it, measured apart from the consumers.

For each watched consumer group, a background task asks the broker every `interval` seconds how far the group's
committed offsets are behind the end of each partition of its topics, and sets

- `agora_consumer_lag_messages{group,topic,partition}`: high watermark - committed offset (the log start when the
  group has committed nothing there yet: where an `earliest` consumer would begin);
- `agora_consumer_lag_seconds{group,topic,partition}`: how long the oldest message the group has not consumed has
  been in the log (now - its broker timestamp); 0 when the group is at the end.

Because nothing here runs inside a consumer, a consumer that died, hangs or never started keeps showing a lag,
and one that grows as long as producers write. Every replica of a service reports its groups' whole lag (not
only the partitions assigned to it): aggregate with `max by (group, topic, partition)` before summing.

    monitor = ConsumerLagMonitor(settings.kafka, interval=settings.consumer_lag_interval_s)
    monitor.watch("agora.users.activity", ["agora.content", "agora.events"])
    monitor.start()
    ...
    await monitor.stop()

One round: a metadata request; per partition leader a ListOffsets (latest) and a Fetch of at most one batch at that
offset; per group an OffsetFetch of its partitions; per partition a group lags on, a Fetch of one batch at its
committed offset (the timestamp of the first message it has not consumed). A few small requests every interval.

Two answers of the embedded broker (Tansu 0.6.0) need care; what is done about them is also right on Kafka:
- ListOffsets (latest) answers the base offset of the partition's last batch + 1, not its end (10 messages sent in
  one batch to an empty partition: 1). The end is the high watermark of a Fetch at that offset (always within the
  log on both brokers), which Tansu reports exactly. A Fetch with max wait 0 gets an empty answer from Tansu: the
  wait is 100 ms (both brokers answer at once when min_bytes is 0).
- OffsetFetch for "every partition of the group" (no topics named) gets an answer aiokafka cannot decode (the
  connection is dropped): the group's partitions are always named.
"""

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.protocol.offset import OffsetRequest
from aiokafka.record.memory_records import MemoryRecords

from agora_common import metrics
from agora_common.kafka import Kafka, kafka_connection
from agora_common.lifecycle import cancel_and_wait

log = logging.getLogger(__name__)

LATEST = -1  # the ListOffsets "timestamp" that asks for a partition's end
FETCH_MAX_WAIT_MS = 100  # Tansu answers a Fetch with max wait 0 with no partitions at all
READ_UNCOMMITTED = 0


@dataclass(frozen=True, slots=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    messages: int
    seconds: float | None  # None: the age of the oldest message not consumed could not be read this round


@dataclass(frozen=True, slots=True)
class _Extent:
    start: int  # the log start offset (0 when the broker does not say)
    end: int  # the high watermark


class ConsumerLagMonitor:
    """Measures the lag of the watched consumer groups every `interval` seconds, in the background (`start`),
    until `stop`; a round that fails (broker unreachable) is logged and the next one starts with a new client."""

    def __init__(self, kafka: Kafka, *, interval: float = 15.0, client_id: str = "agora-lag") -> None:
        self._kafka = kafka_connection(kafka)
        self._interval = interval
        self._client_id = client_id
        self._groups: dict[str, tuple[str, ...]] = {}
        self._admin: AIOKafkaAdminClient | None = None
        self._task: asyncio.Task | None = None
        self._reported: set[tuple[str, str, str]] = set()
        self._failing = False

    def watch(self, group: str, topics: Iterable[str]) -> None:
        """Measure `group`'s lag on `topics` (the topics it consumes)."""
        self._groups[group] = tuple(dict.fromkeys((*self._groups.get(group, ()), *topics)))

    @property
    def groups(self) -> dict[str, tuple[str, ...]]:
        return dict(self._groups)

    def start(self) -> None:
        if self._groups and self._task is None:
            self._task = asyncio.create_task(self._run(), name="consumer-lag-monitor")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        await self._close_admin()

    async def _run(self) -> None:
        while True:
            try:
                await self.measure()
                if self._failing:
                    log.info("consumer lag measured again")
                self._failing = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the broker comes and goes: measure again next round
                if not self._failing:  # once per outage, not every round
                    log.warning("could not measure consumer lag; the last figures stay until the next round",
                                extra={"error": f"{type(exc).__name__}: {exc}"[:300]})
                self._failing = True
                await self._close_admin()  # a fresh client next round: fresh metadata and connections
            await asyncio.sleep(self._interval)

    async def measure(self) -> list[PartitionLag]:
        """One round: ask the broker, set the gauges, return what was measured."""
        admin = await self._client()
        client = admin._client  # the admin's own connections, for the ListOffsets and Fetch requests it lacks
        await client.force_metadata_update()
        cluster = client.cluster
        wanted = {t for topics in self._groups.values() for t in topics}
        leaders: dict[TopicPartition, int] = {}
        for topic in wanted:
            for p in sorted(cluster.partitions_for_topic(topic) or ()):  # a topic not there yet has no lag
                leader = cluster.leader_for_partition(TopicPartition(topic, p))
                if leader is not None and leader >= 0:
                    leaders[TopicPartition(topic, p)] = leader
        extents = await self._extents(client, leaders)
        now = time.time()
        lags: list[PartitionLag] = []
        for group, topics in self._groups.items():
            partitions = [tp for tp in leaders if tp.topic in topics and tp in extents]
            if not partitions:
                continue
            committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
            positions: dict[TopicPartition, int] = {}
            for tp in partitions:
                extent = extents[tp]
                offset = committed[tp].offset if tp in committed else -1
                # nothing committed yet: a consumer (auto_offset_reset=earliest) would begin at the log start
                positions[tp] = min(max(offset, extent.start), extent.end)
            behind = {tp: pos for tp, pos in positions.items() if pos < extents[tp].end}
            oldest = await self._timestamps(client, leaders, behind)
            for tp, pos in positions.items():
                messages = extents[tp].end - pos
                timestamp = oldest.get(tp)
                seconds = 0.0 if messages == 0 else (max(now - timestamp / 1000, 0.0) if timestamp is not None else None)
                lags.append(PartitionLag(group, tp.topic, tp.partition, messages, seconds))
        self._report(lags)
        return lags

    def _report(self, lags: list[PartitionLag]) -> None:
        reported = set()
        for lag in lags:
            labels = (lag.group, lag.topic, str(lag.partition))
            metrics.CONSUMER_LAG.labels(*labels).set(lag.messages)
            if lag.seconds is not None:  # otherwise the last age stays (an underestimate: it has only grown)
                metrics.CONSUMER_LAG_SECONDS.labels(*labels).set(lag.seconds)
            reported.add(labels)
        for labels in self._reported - reported:  # a topic or group no longer there
            for gauge in (metrics.CONSUMER_LAG, metrics.CONSUMER_LAG_SECONDS):
                with contextlib.suppress(KeyError):
                    gauge.remove(*labels)
        self._reported = reported

    async def _extents(self, client, leaders: dict[TopicPartition, int]) -> dict[TopicPartition, _Extent]:
        """Start and end of every partition: ListOffsets (latest), then the high watermark and log start of a
        Fetch at that offset (Tansu's ListOffsets answer can be short of the end; the Fetch's is exact)."""
        extents: dict[TopicPartition, _Extent] = {}
        for node, tps in _by_node(leaders, leaders).items():
            latest = await _list_offsets(client, node, tps, LATEST)
            fetched = await _fetch(client, node, {tp: latest[tp] for tp in tps if tp in latest})
            for tp, (error, highwater, log_start, _) in fetched.items():
                if error == 0 and highwater >= 0:
                    extents[tp] = _Extent(start=max(log_start, 0), end=max(highwater, latest[tp]))
        return extents

    async def _timestamps(self, client, leaders: dict[TopicPartition, int],
                          positions: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
        """The broker timestamp (ms) of the message at each position, from one batch fetched there: one Fetch per
        partition, since a broker sends a batch over the size limit only for the first partition of a Fetch."""
        found: dict[TopicPartition, int] = {}
        for tp, position in positions.items():
            fetched = await _fetch(client, leaders[tp], {tp: position})
            error, _, _, records = fetched.get(tp, (-1, -1, -1, None))
            if error == 0 and (timestamp := _first_timestamp(records, position)) is not None:
                found[tp] = timestamp
        return found

    async def _client(self) -> AIOKafkaAdminClient:
        if self._admin is None:
            admin = AIOKafkaAdminClient(**self._kafka.client_options(), client_id=self._client_id,
                                        request_timeout_ms=10_000)
            try:
                await admin.start()
            except Exception:
                await admin.close()
                raise
            self._admin = admin
        return self._admin

    async def _close_admin(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            try:
                await admin.close()
            except Exception:  # a client that failed may not close cleanly; it is dropped anyway
                log.debug("lag monitor's admin client did not close cleanly", exc_info=True)


def _by_node(leaders: dict[TopicPartition, int], tps: Iterable[TopicPartition]) -> dict[int, list[TopicPartition]]:
    nodes: dict[int, list[TopicPartition]] = defaultdict(list)
    for tp in tps:
        nodes[leaders[tp]].append(tp)
    return nodes


def _by_topic(items: Iterable[tuple[TopicPartition, tuple]]) -> list[tuple[str, list[tuple]]]:
    topics: dict[str, list[tuple]] = defaultdict(list)
    for tp, fields in items:
        topics[tp.topic].append((tp.partition, *fields))
    return list(topics.items())


async def _list_offsets(client, node: int, tps: list[TopicPartition], timestamp: int) -> dict[TopicPartition, int]:
    request = OffsetRequest(-1, READ_UNCOMMITTED, _by_topic((tp, (timestamp,)) for tp in tps))
    response = await client.send(node, request)
    offsets = {}
    for topic, partitions in response.topics:
        for partition, error, *info in partitions:
            if error == 0:  # v0 answers a list of offsets; later versions (timestamp, offset[, leader epoch])
                offset = (info[0][0] if info[0] else -1) if response.API_VERSION == 0 else info[1]
                offsets[TopicPartition(topic, partition)] = offset
    return offsets


async def _fetch(client, node: int, offsets: dict[TopicPartition, int]) -> dict[TopicPartition, tuple]:
    """One Fetch with a size limit of 1 byte: the answer carries every partition's high watermark and log start, and
    the first batch of the first partition only (a broker sends one batch over the limit, so that consumers can make
    progress): {tp: (error code, high watermark, log start offset or -1, records bytes)}."""
    if not offsets:
        return {}
    request = FetchRequest(FETCH_MAX_WAIT_MS, 0, 1, READ_UNCOMMITTED,
                           _by_topic((tp, (offset, 1)) for tp, offset in offsets.items()))
    response = await client.send(node, request)
    answers = {}
    for topic, partitions in response.topics:
        for partition, error, highwater, *rest in partitions:
            # v4: last stable offset, aborted transactions, records; v5+: the log start offset after the first
            log_start = rest[1] if response.API_VERSION >= 5 else -1
            answers[TopicPartition(topic, partition)] = (error, highwater, log_start, rest[-1])
    return answers


def _first_timestamp(records: bytes | None, offset: int) -> int | None:
    """The timestamp of the first record at or after `offset` in a fetched record set."""
    if not records:
        return None
    batches = MemoryRecords(bytes(records))
    while batches.has_next():
        batch = batches.next_batch()
        if batch is None:
            break
        for record in batch:
            if record.offset >= offset:
                timestamp = record.timestamp
                return timestamp if timestamp is not None and timestamp >= 0 else None
    return None
