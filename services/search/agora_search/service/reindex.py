"""Zero-downtime reindex: build a new index from the content event log, then swap the aliases atomically.

1. create a new versioned index and add it to the write alias; once the live indexers have seen it (they re-read
   the alias every second), they write every new event to the old and the new index;
2. replay the content topic from the beginning up to its end offsets as seen after step 1 (anything later is
   dual-written by step 1), folding into the new index; order does not matter to the fold;
3. refresh, then point the read and write aliases at the new index in one atomic call; searches read the old
   index until that call and the new one after it, never neither;
4. after a grace period (writes and cursors in flight), delete the old index.
"""

import asyncio
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from agora_common.errors import Conflict
from agora_common.lifecycle import cancel_and_wait
from agora_common.topics import Topics
from elasticsearch import AsyncElasticsearch

from agora_search.adapters.deleted_authors import DeletedAuthors
from agora_search.adapters.event_log import read_log
from agora_search.adapters.indexer import Indexer
from agora_search.adapters.indices import IndexManager
from agora_search.config import Settings
from agora_search.service.demand import activity_log
from agora_search.service.indexing import WRITE_TARGETS_TTL

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


@dataclass
class ReindexStatus:
    state: str = "idle"  # idle | running | succeeded | failed
    index: str | None = None
    replaced: list[str] = field(default_factory=list)
    events_read: int = 0
    events_total: int = 0
    documents_written: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


async def rebuild(
    *,
    es: AsyncElasticsearch,
    settings: Settings,
    status: ReindexStatus | None = None,
    progress: Progress | None = None,
    force: bool = False,
) -> ReindexStatus:
    status = status or ReindexStatus()
    manager = IndexManager(es, settings)
    await manager.ensure()
    if force:
        await drop_abandoned(manager)
    if len(await manager.write_indices()) > 1:
        raise Conflict("a reindex is already running (the write alias lists two indices); if its process died, "
                       "run again with --force", code="reindex_running")
    new = manager.new_index_name()
    status.state, status.index, status.started_at = "running", new, datetime.now(UTC)
    await manager.create_index(new)
    await manager.add_write_index(new)
    try:
        # live indexers re-read the write alias at most this often: after it, every new event reaches the new index
        await asyncio.sleep(WRITE_TARGETS_TTL + 0.5)
        # one refresh at the end is enough; deleted accounts are dropped from the replayed events too
        indexer = Indexer(es, deleted_authors=DeletedAuthors(es, settings.deleted_authors_index))
        # the demand report's activity log is rebuilt on the way (what is missing and within the retention window)
        activity = activity_log(es, settings)
        await activity.ensure()
        async for batch in read_log(settings.kafka, Topics(settings.topic_prefix).content):
            if batch.envelopes:
                result = await indexer.index(batch.envelopes, [new])
                status.documents_written += result.written
                await activity.record(batch.envelopes)
            status.events_read, status.events_total = batch.read, batch.total
            if progress:
                progress(batch.read, batch.total)
        await es.indices.refresh(index=new)
        status.replaced = await manager.swap(new)
    except BaseException as exc:
        status.state, status.error, status.finished_at = "failed", repr(exc)[:500], datetime.now(UTC)
        await _abandon(manager, new)
        raise
    log.info("reindex swapped aliases", extra={"index": new, "replaced": status.replaced})
    await asyncio.sleep(settings.reindex_grace_seconds)
    await manager.delete(status.replaced)
    status.state, status.finished_at = "succeeded", datetime.now(UTC)
    return status


async def drop_abandoned(manager: IndexManager) -> list[str]:
    """Indices in the write alias but not the read alias: left by a reindex whose process died. Only call this
    when no reindex is running anywhere."""
    read = set(await manager.read_indices())
    abandoned = [i for i in await manager.write_indices() if i not in read]
    for name in abandoned:
        log.warning("dropping an index left by an interrupted reindex", extra={"index": name})
        await _abandon(manager, name)
    return abandoned


async def _abandon(manager: IndexManager, new: str) -> None:
    try:
        await manager.drop_write_index(new)
        await manager.delete([new])
    except Exception:
        log.exception("could not clean up the abandoned index", extra={"index": new})


class ReindexJob:
    """One reindex at a time in this process, run in the background for the admin endpoint."""

    def __init__(self, es: AsyncElasticsearch, settings: Settings) -> None:
        self.es = es
        self.settings = settings
        self.status = ReindexStatus()
        self._task: asyncio.Task | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self, *, force: bool = False) -> ReindexStatus:
        if self.running:
            raise Conflict("a reindex is already running", code="reindex_running")
        manager = IndexManager(self.es, self.settings)
        if force:
            await drop_abandoned(manager)
        if len(await manager.write_indices()) > 1:
            raise Conflict("a reindex is already running (the write alias lists two indices); if its process died, "
                           "start again with force=true", code="reindex_running")
        self.status = ReindexStatus(state="running", started_at=datetime.now(UTC))
        self._task = asyncio.create_task(self._run(), name="search-reindex")
        return self.status

    async def _run(self) -> None:
        try:
            await rebuild(es=self.es, settings=self.settings, status=self.status)
        except Exception as exc:
            log.exception("reindex failed")
            if self.status.state == "running":
                self.status.state, self.status.error = "failed", repr(exc)[:500]
                self.status.finished_at = datetime.now(UTC)

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
