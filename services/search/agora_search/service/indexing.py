"""The live indexer: consumes the content topic and keeps every index of the write alias up to date.

Writes and refreshes are decoupled: a batch is written without waiting for a refresh (the shared consumer handles
partitions one after the other, so waiting per batch would add up), and a refresher makes whatever was written
searchable with one explicit refresh, at most every `refresh_every_seconds`; writes that arrive during a refresh
are covered by the next one. The indexing lag is observed after the refresh that covers the event.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from agora_common.consumer_lag import ConsumerLagMonitor
from agora_common.events import Envelope
from agora_common.events.dispatch import EventHandlers
from agora_common.events.users import (
    HonorTitleGranted,
    HonorTitleRevoked,
    ProfileUpdated,
    TagFollowed,
    TagUnfollowed,
    UserDeleted,
    UserRegistered,
)
from agora_common.kafka import SupervisedConsumer
from agora_common.lifecycle import cancel_and_wait
from agora_common.retry import until_done
from agora_common.runtime import client_id, group_id
from agora_common.topics import Topics
from elasticsearch import AsyncElasticsearch

from agora_search import metrics
from agora_search.adapters.consumer import low_latency_consumer
from agora_search.adapters.deleted_authors import DeletedAuthors
from agora_search.adapters.demand import TagFollows
from agora_search.adapters.indexer import Indexer, IndexResult
from agora_search.adapters.indices import IndexManager
from agora_search.adapters.member_names import MemberNames
from agora_search.config import Settings
from agora_search.service.authors import forget_author
from agora_search.service.demand import activity_log

log = logging.getLogger(__name__)

MAX_BACKOFF = 5.0
WRITE_TARGETS_TTL = 1.0
SECOND_PASS_SECONDS = 5.0
PURGE_EVERY_SECONDS = 3600.0  # the activity log drops what is older than the retention this often


class LiveIndexer:
    def __init__(self, es: AsyncElasticsearch, settings: Settings) -> None:
        self.settings = settings
        self.indices = IndexManager(es, settings)
        self.es = es
        self.deleted_authors = DeletedAuthors(es, settings.deleted_authors_index)
        self.indexer = Indexer(es, deleted_authors=self.deleted_authors)
        self.names = MemberNames(es, settings.member_names_index)
        # the demand report's activity log (written with each batch) and tag follows (from the users topic)
        self.activity = activity_log(es, settings)
        self.follows = TagFollows(es, settings.tag_follows_index)
        self._purged_at = 0.0
        topics = Topics(settings.topic_prefix)
        self.content = SupervisedConsumer(lambda: low_latency_consumer(
            kafka=settings.kafka, topics=[topics.content], group_id=group_id(settings, "indexer"),
            client_id=client_id(settings, "indexer"), dead_letter_topic=topics.dead_letter, batch_handler=self.handle,
            max_batch=settings.indexer_batch, fetch_max_wait_ms=settings.fetch_max_wait_ms,
        ))
        self.members = SupervisedConsumer(lambda: low_latency_consumer(
            kafka=settings.kafka, topics=[topics.users], group_id=group_id(settings, "members"),
            client_id=client_id(settings, "members"), dead_letter_topic=topics.dead_letter,
            handler=self.handle_users_event, fetch_max_wait_ms=settings.fetch_max_wait_ms,
        ))
        # the two groups' lag, asked of the broker (agora_consumer_lag_*) from the app's start on (main.py), also
        # while the consumers wait for the index or are down
        self.lag = ConsumerLagMonitor(settings.kafka, interval=settings.consumer_lag_interval_s,
                                      client_id=client_id(settings, "lag"))
        self.lag.watch(group_id(settings, "indexer"), [topics.content])
        self.lag.watch(group_id(settings, "members"), [topics.users])
        self._followups: set[asyncio.Task] = set()
        self._refresher: asyncio.Task | None = None
        self._written: list[Envelope] = []
        self._targets: tuple[float, list[str]] | None = None
        self._wrote = asyncio.Event()
        # called with (envelope, seconds from event time to searchable); benchmarks hook in here
        self.lag_observers: list[Callable[[Envelope, float], None]] = []

    async def handle(self, envelopes: list[Envelope]) -> None:
        result = await self._index_with_retry(envelopes)
        rejected = {id(r.envelope) for r in result.rejected}
        for r in result.rejected:
            await self.content.consumer.dead_letter_envelope(r.envelope, r.reason, r.message)
        accepted = [e for e in envelopes if id(e) not in rejected]
        self._written += accepted
        self._wrote.set()
        await until_done(lambda: self.activity.record(accepted), what="recording activity", cap=MAX_BACKOFF)
        await self._purge_activity()

    async def _purge_activity(self) -> None:
        if time.monotonic() - self._purged_at < PURGE_EVERY_SECONDS:
            return
        self._purged_at = time.monotonic()
        try:
            await self.activity.purge(datetime.now(UTC))
        except Exception:
            log.warning("could not purge the activity log (next time)", exc_info=True)

    async def handle_users_event(self, envelope: Envelope) -> None:
        await MEMBERS.dispatch(envelope, indexer=self)

    async def forget_author(self, user_id: str) -> None:
        """Anonymise a deleted account's posts now, and once more shortly after."""
        # the engine down: wait rather than stop consuming (nothing is committed before it succeeds)
        await until_done(lambda: self._forget(user_id), what="anonymising a deleted account", cap=MAX_BACKOFF)
        # a post event already in flight may have been written with the author just before: look again shortly
        task = asyncio.create_task(self._forget_later(user_id))
        self._followups.add(task)
        task.add_done_callback(self._followups.discard)

    async def _forget(self, user_id: str) -> None:
        await forget_author(es=self.es, indices=self.indices, deleted=self.deleted_authors, indexer=self.indexer,
                            user_id=user_id)

    async def _forget_later(self, user_id: str) -> None:
        await asyncio.sleep(SECOND_PASS_SECONDS)
        try:
            await self._forget(user_id)
        except Exception:
            log.exception("second anonymisation pass failed (the next write of each post applies it anyway)")

    async def _refresh_loop(self) -> None:
        while True:
            await self._wrote.wait()
            self._wrote.clear()
            written, self._written = self._written, []
            await until_done(lambda: self.es.indices.refresh(index=self.settings.write_alias), what="index refresh",
                             cap=MAX_BACKOFF)
            now = datetime.now(UTC)  # everything written before the refresh started is searchable now
            for envelope in written:
                lag = max((now - envelope.time).total_seconds(), 0.0)
                metrics.INDEXING_LAG.observe(lag)
                for observer in self.lag_observers:
                    observer(envelope, lag)
            await asyncio.sleep(self.settings.refresh_every_seconds)  # lets writes gather: fewer, larger refreshes

    async def _index_with_retry(self, envelopes: list[Envelope]) -> IndexResult:
        """Elasticsearch down or overloaded: wait and retry rather than stop consuming (nothing is committed)."""

        async def index() -> IndexResult:
            return await self.indexer.index(envelopes, await self._write_targets())

        return await until_done(index, what="indexing", cap=MAX_BACKOFF)

    async def _write_targets(self) -> list[str]:
        """The write alias's indices, re-read at most every WRITE_TARGETS_TTL seconds. A reindex waits longer than
        that after adding its index before it snapshots the log, so no event can miss the new index."""
        now = time.monotonic()
        if self._targets is None or now - self._targets[0] > WRITE_TARGETS_TTL:
            self._targets = (now, await self.indices.write_indices())
        return self._targets[1]

    async def start(self) -> None:
        """Starts in the background, retrying while Kafka is unreachable, so the service boots regardless; a
        consumer that stops is replaced."""
        self.content.start()
        self.members.start()
        self._refresher = asyncio.create_task(self._refresh_loop(), name="search-indexer-refresh")

    @property
    def running(self) -> bool:
        return self.content.running

    async def stop(self) -> None:
        for task in (self._refresher, *self._followups):
            await cancel_and_wait(task)
        await self.lag.stop()
        await self.content.stop()
        await self.members.stop()


# what search learns from the users topic: deleted accounts are anonymised in every document; display names name
# the authors of accepted answers on hits; tag follows count followers per tag for the demand report; scoped honor
# titles ("tag:kubernetes") say which posts' authors are the community's experts of their tags
MEMBERS: EventHandlers[Any] = EventHandlers("search.members")


@MEMBERS.on(UserDeleted)
async def _account_deleted(event: UserDeleted, envelope: Envelope, *, indexer: LiveIndexer) -> None:
    await until_done(lambda: indexer.names.forget(event.user_id, envelope.version), what="forgetting a name",
                     cap=MAX_BACKOFF)
    await indexer.forget_author(event.user_id)
    await until_done(lambda: indexer.follows.forget(event.user_id), what="forgetting tag follows", cap=MAX_BACKOFF)
    await until_done(lambda: indexer.activity.forget_actor(event.user_id), what="anonymising activity",
                     cap=MAX_BACKOFF)


@MEMBERS.on(UserRegistered, ProfileUpdated)
async def _named(event: UserRegistered | ProfileUpdated, envelope: Envelope, *, indexer: LiveIndexer) -> None:
    await until_done(lambda: indexer.names.record(event.user_id, event.display_name, envelope.version),
                     what="recording a display name", cap=MAX_BACKOFF)


@MEMBERS.on(TagFollowed, TagUnfollowed)
async def _tag_follow(event: TagFollowed | TagUnfollowed, envelope: Envelope, *, indexer: LiveIndexer) -> None:
    """Followers per tag, for the demand report (deleted accounts follow nothing, even if an event comes late)."""
    following = isinstance(event, TagFollowed)
    if following and await indexer.deleted_authors.which({event.user_id}):
        return
    await until_done(lambda: indexer.follows.put(event.user_id, event.tag, following=following,
                                                 version=envelope.version),
                     what="recording a tag follow", cap=MAX_BACKOFF)


@MEMBERS.on(HonorTitleGranted)
async def _title_granted(event: HonorTitleGranted, envelope: Envelope, *, indexer: LiveIndexer) -> None:
    if event.scope:  # a title for the whole community says nothing about a post
        scope = event.scope
        await until_done(lambda: indexer.names.title_granted(event.user_id, event.title, scope, envelope.version),
                         what="recording a scoped title", cap=MAX_BACKOFF)


@MEMBERS.on(HonorTitleRevoked)
async def _title_revoked(event: HonorTitleRevoked, envelope: Envelope, *, indexer: LiveIndexer) -> None:
    if event.scope:
        scope = event.scope
        await until_done(lambda: indexer.names.title_revoked(event.user_id, event.title, scope, envelope.version),
                         what="recording a scoped title", cap=MAX_BACKOFF)
