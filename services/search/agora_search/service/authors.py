"""Deleted accounts: drop the link to them from every indexed post and answer (the content stays searchable)."""

import logging
from typing import Any

from elasticsearch import AsyncElasticsearch

from agora_search.adapters.deleted_authors import DeletedAuthors
from agora_search.adapters.indexer import Indexer
from agora_search.adapters.indices import IndexManager

log = logging.getLogger(__name__)

PAGE = 500


async def forget_author(*, es: AsyncElasticsearch, indices: IndexManager, deleted: DeletedAuthors, indexer: Indexer,
                        user_id: str) -> int:
    """Record the deletion (every later write applies it), then rewrite the documents that name the author.
    Idempotent: run it again (a redelivered event, or a second pass) and it changes nothing more."""
    await deleted.add(user_id)
    changed = 0
    for index in await indices.write_indices():
        await es.indices.refresh(index=index)  # find documents written just before
        after = None
        while True:
            body: dict[str, Any] = {"query": {"bool": {"should": [{"term": {"author_id": user_id}},
                                                  {"term": {"answer_author_ids": user_id}}]}},
                    "sort": [{"id": "asc"}], "size": PAGE, "_source": False}
            if after:
                body["search_after"] = after
            hits = (await es.search(index=index, **body))["hits"]["hits"]
            if not hits:
                break
            changed += await indexer.rewrite(index, [h["_id"] for h in hits])
            after = hits[-1]["sort"]
    log.info("anonymised a deleted account's posts", extra={"documents": changed})
    return changed
