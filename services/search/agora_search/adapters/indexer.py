"""Writes folded events to Elasticsearch: read the affected documents, fold, write back with optimistic concurrency.

Each write is conditional on the `_seq_no`/`_primary_term` read (or `create` for a new document), so two writers
(the live indexer and a reindex, or two replicas during a rebalance) never lose each other's changes: a conflicting
document is simply read and folded again. Together with the per-group versions of the fold this gives what
external versioning gives for single-aggregate documents, for documents that fold several aggregates.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass, field

from agora_common.events import BadEvent, DomainEvent, Envelope
from elasticsearch import AsyncElasticsearch, NotFoundError

from agora_search import metrics
from agora_search.adapters.deleted_authors import DeletedAuthors
from agora_search.domain import fold

log = logging.getLogger(__name__)

MAX_CONFLICT_ROUNDS = 20


class TransientIndexError(Exception):
    """Elasticsearch refused writes for a reason that may pass (overload, shard unavailable): retry the batch."""


@dataclass
class Rejected:
    envelope: Envelope
    reason: str
    message: str


@dataclass
class IndexResult:
    written: int = 0
    rejected: list[Rejected] = field(default_factory=list)


def plan(envelopes: list[Envelope]) -> tuple[dict[str, list[tuple[Envelope, DomainEvent]]], list[Rejected]]:
    """Group events by the document they change, keeping their order; events search cannot use are rejected."""
    groups: dict[str, list[tuple[Envelope, DomainEvent]]] = defaultdict(list)
    rejected: list[Rejected] = []
    for envelope in envelopes:
        try:
            event = envelope.payload()
            doc_id = fold.target_doc_id(event)
        except BadEvent as exc:
            rejected.append(Rejected(envelope, exc.reason, str(exc)))
            continue
        if doc_id is not None:
            groups[doc_id].append((envelope, event))
    return groups, rejected


class Indexer:
    def __init__(self, es: AsyncElasticsearch, *, refresh: str = "false",
                 deleted_authors: DeletedAuthors | None = None) -> None:
        self.es = es
        self.refresh = refresh
        self.deleted_authors = deleted_authors

    async def rewrite(self, index: str, doc_ids: list[str]) -> int:
        """Write documents again without new events (to apply an account deletion); returns how many changed."""
        result = IndexResult()
        await self._index_into(index, {doc_id: [] for doc_id in doc_ids}, result)
        metrics.DOCUMENTS_INDEXED.inc(result.written)
        return result.written

    async def index(self, envelopes: list[Envelope], indices: list[str]) -> IndexResult:
        groups, rejected = plan(envelopes)
        result = IndexResult(rejected=rejected)
        for index in indices:
            await self._index_into(index, groups, result)
        metrics.DOCUMENTS_INDEXED.inc(result.written)
        return result

    async def _index_into(self, index: str, groups: dict, result: IndexResult) -> None:
        pending = set(groups)
        for _ in range(MAX_CONFLICT_ROUNDS):
            if not pending:
                return
            ids = sorted(pending)
            try:
                found = await self.es.mget(index=index, ids=ids, source_includes=["state"])
            except NotFoundError:
                log.warning("index vanished while writing (swapped out by a reindex); skipped", extra={"index": index})
                return
            folded = []
            for doc in found["docs"]:
                doc_id = doc["_id"]
                if doc.get("found"):
                    state = doc["_source"]["state"]
                    action = {"index": {"_index": index, "_id": doc_id, "if_seq_no": doc["_seq_no"],
                                        "if_primary_term": doc["_primary_term"]}}
                elif not groups[doc_id]:
                    continue  # a rewrite of a document that does not exist here
                else:
                    state = fold.new_state()
                    action = {"create": {"_index": index, "_id": doc_id}}
                changed = False
                for envelope, event in groups[doc_id]:
                    changed |= fold.apply(state, envelope, event)
                folded.append((doc_id, state, action, changed))
            deleted = set()
            if self.deleted_authors is not None:
                deleted = await self.deleted_authors.which(set().union(*(fold.authors(f[1]) for f in folded)))
            operations: list[dict] = []
            for doc_id, state, action, changed in folded:
                if fold.anonymise(state, deleted) or changed:
                    operations += [action, fold.project(doc_id, state)]
            pending = set()
            if not operations:
                return
            response = await self.es.bulk(operations=operations, refresh=self.refresh)
            for item in response["items"]:
                outcome = next(iter(item.values()))
                status = outcome.get("status", 500)
                if status < 300:
                    result.written += 1
                elif status == 409:
                    pending.add(outcome["_id"])
                elif status == 400:  # the engine will never accept this document: dead-letter its events
                    message = str(outcome.get("error"))[:500]
                    result.rejected += [Rejected(e, "rejected_by_index", message) for e, _ in groups[outcome["_id"]]]
                elif status == 404:
                    log.warning("index vanished while writing; skipped", extra={"index": index})
                else:
                    raise TransientIndexError(f"bulk item failed with {status}: {outcome.get('error')}")
        raise TransientIndexError(f"documents still conflicting after {MAX_CONFLICT_ROUNDS} rounds: {sorted(pending)}")
