"""A points worker: the three stages of the pipeline (service/stages.py), each a member of a consumer group that
every worker joins, so the workers share the partitions and one more worker adds scoring capacity.

    domain topics ─▶ [route group] Router ─▶ facts.<rules> ─▶ [derive group] Deriver ─▶ states.<rules>
                                                                ─▶ [book group] Keeper ─▶ ledgers, Redis boards, titles

The internal topics and groups carry the rules' fingerprint: other rules give other facts and states, so a new
rules version is scored from the domain log into topics of its own, never mixed with the old ones.
"""

import logging
from datetime import datetime
from pathlib import Path

from agora_common.events import BadEvent, Envelope
from agora_common.kafka import DeadLetters, EventPublisher, Kafka, ensure_topics, kafka_connection
from agora_common.topics import Topics

from agora_points import metrics
from agora_points.adapters.group_member import GroupMember
from agora_points.adapters.log_reader import read_log
from agora_points.adapters.snapshots import SnapshotLog
from agora_points.adapters.state_codec import LAYOUT
from agora_points.adapters.state_store import StateStore
from agora_points.domain.rules import RuleSet
from agora_points.service.decode import Decoder, relevant_types
from agora_points.service.stages import Deriver, Keeper, Producer, Router, TitleBook

log = logging.getLogger(__name__)


class PointsProcessor:
    def __init__(self, *, rules: RuleSet, fingerprint: str, kafka: Kafka, topics: Topics,
                 publish_titles: bool = True, batch_max: int = 5_000, partitions: int = 6,
                 replication: int = 1, state_dir: Path, state_cache_mib: float = 128,
                 standby_replicas: bool = True, snapshot_mib: float, domain_partitions: int = 3,
                 create_domain_topics: bool = True) -> None:
        self.rules = rules
        self.domain_partitions, self.create_domain_topics = domain_partitions, create_domain_topics
        self.store = StateStore(state_dir, cache_mib=state_cache_mib)
        self.kafka = kafka_connection(kafka)
        self.topics = topics
        self.partitions, self.replication = partitions, replication
        base = f"{topics.prefix}points-{fingerprint[:12]}"
        self.facts_topic, self.states_topic = f"{base}.facts", f"{base}.states"
        self.groups = {stage: f"{base}-{stage}" for stage in ("route", "derive", "book")}
        self.publisher = EventPublisher(self.kafka, client_id=f"{base}-worker")
        producer = Producer(self.publisher, create_topics=self.create_topics)
        self.dead_letters = DeadLetters(self.kafka, topic=topics.dead_letter, group_id=self.groups["route"],
                                        client_id=self.groups["route"])
        self.router = Router(decode=Decoder(relevant_types(rules)), producer=producer, facts_topic=self.facts_topic,
                             dead_letters=self.dead_letters, group_id=self.groups["route"])
        self.deriver = Deriver(rules=rules, producer=producer, states_topic=self.states_topic, store=self.store)
        self.keeper = Keeper(rules=rules, producer=producer, points_topic=topics.points,
                             topic_prefix=topics.prefix, publish_titles=publish_titles, read_titles=self.read_titles,
                             group_id=self.groups["book"], store=self.store)
        self.snapshot_topics = {stage: f"{self.groups[stage]}-snapshots" for stage in ("derive", "book")}
        stateful = {"standby_replicas": standby_replicas, "snapshot_bytes": int(snapshot_mib * 2**20)}
        route = GroupMember(self.kafka, group_id=self.groups["route"], topics=self.input_topics, stage=self.router,
                            batch_max=batch_max, name="route")
        derive = GroupMember(self.kafka, group_id=self.groups["derive"], topics=[self.facts_topic],
                             stage=self.deriver, batch_max=batch_max, upstream=route, **stateful, name="derive",
                             snapshots=SnapshotLog(self.kafka, self.publisher, self.snapshot_topics["derive"],
                                                   layout=LAYOUT))
        book = GroupMember(self.kafka, group_id=self.groups["book"], topics=[self.states_topic], stage=self.keeper,
                           batch_max=batch_max, upstream=derive, **stateful, name="book",
                           snapshots=SnapshotLog(self.kafka, self.publisher, self.snapshot_topics["book"],
                                                 layout=LAYOUT))
        self.members = (route, derive, book)
        self.failure: str | None = None
        metrics.READY.set(0)

    @property
    def input_topics(self) -> list[str]:
        return [self.topics.content, self.topics.users, self.topics.events]

    @property
    def ready(self) -> bool:
        """Every stage has read its partitions to their end once, each after the stage before it."""
        return self.members[-1].caught_up

    @property
    def last_applied_at(self) -> datetime | None:
        return self.keeper.last_applied_at

    async def create_topics(self) -> None:
        """Every topic the service reads or writes, at start-up and whenever one it sends to is gone. The domain
        topics as every service makes them (in production the setup job does: then it waits for them). Its own
        keep their whole history (they are the stages' changelogs); it creates them itself, also in production:
        their names carry the rules' fingerprint, which only it knows."""
        await ensure_topics(self.kafka, self.topics.all(), partitions=self.domain_partitions,
                            create=self.create_domain_topics)
        await ensure_topics(self.kafka, [self.facts_topic, self.states_topic], partitions=self.partitions,
                            replication=self.replication, configs={"retention.ms": "-1"})
        # snapshots: a week of them (a partition's newest is seldom older; if it is, its input is read from the start)
        await ensure_topics(self.kafka, list(self.snapshot_topics.values()), partitions=self.partitions,
                            replication=self.replication, configs={"retention.ms": str(7 * 24 * 3600 * 1000)})
        if self.keeper.partition_count is None:  # then kept by the book stage's assignments
            producer = await self.publisher.ensure_started()
            self.keeper.partition_count = len(await producer.partitions_for(self.states_topic))

    async def read_titles(self) -> TitleBook:
        """What the points topic says about titles so far (small: title changes only)."""
        book = TitleBook()
        async for records, _ in read_log(self.kafka, [self.topics.points]):
            for r in records:
                try:
                    book.record(Envelope.from_bytes(r.value))
                except BadEvent:
                    continue
        return book

    async def stop(self) -> None:
        await self.keeper.flush_titles()
        await self.publisher.stop()
        await self.dead_letters.stop()
        self.store.close()
