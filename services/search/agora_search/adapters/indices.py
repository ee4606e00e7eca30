"""Index layout and lifecycle: versioned concrete indices behind a read alias and a write alias.

- `<alias>`: the one index searches read (swapped atomically by a reindex).
- `<alias>-write`: every index the indexer writes to; two while a reindex builds its new index, so events that
  arrive during the rebuild reach both.
Analysis uses only what every Elasticsearch has built in: `english` (stemming) for English text and `cjk`
(bigrams) for Chinese; a production cluster may add IK through configuration without changing the API.
"""

import logging
import time
import uuid
from typing import Any

from elasticsearch import AsyncElasticsearch, BadRequestError

from agora_search.config import Settings

log = logging.getLogger(__name__)


def index_settings(settings: Settings) -> dict:
    return {
        "number_of_shards": settings.index_shards,
        "number_of_replicas": settings.index_replicas,
        "refresh_interval": settings.refresh_interval,
        "analysis": {
            "filter": {"autocomplete_edge": {"type": "edge_ngram", "min_gram": 1, "max_gram": 20}},
            "analyzer": {
                "autocomplete": {"type": "custom", "tokenizer": "standard", "filter": ["lowercase", "autocomplete_edge"]},
                "autocomplete_search": {"type": "custom", "tokenizer": "standard", "filter": ["lowercase"]},
            },
        },
    }


def _text(*, autocomplete: bool = False) -> dict:
    fields: dict = {"cjk": {"type": "text", "analyzer": "cjk"}}
    if autocomplete:
        fields["autocomplete"] = {"type": "text", "analyzer": "autocomplete", "search_analyzer": "autocomplete_search"}
    return {"type": "text", "analyzer": "english", "fields": fields}


MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "id": {"type": "keyword"},
        "type": {"type": "keyword"},
        "title": _text(autocomplete=True),
        "body": _text(),
        "answers_text": _text(),
        "summary": {"type": "keyword", "index": False},
        "tags": {"type": "keyword"},
        "author_id": {"type": "keyword"},
        "answer_author_ids": {"type": "keyword"},
        "sig_id": {"type": "keyword"},
        "event_id": {"type": "keyword"},
        "accepted_answer_id": {"type": "keyword"},
        "accepted_answer_author_id": {"type": "keyword"},
        "created_at": {"type": "date"},
        "updated_at": {"type": "date"},
        "score": {"type": "integer"},
        "answer_count": {"type": "integer"},
        "answered": {"type": "boolean"},
        "has_accepted": {"type": "boolean"},
        "visible": {"type": "boolean"},
        "state": {"type": "object", "enabled": False},  # the fold's bookkeeping: stored, never indexed
    },
}


class IndexManager:
    def __init__(self, es: AsyncElasticsearch, settings: Settings) -> None:
        self.es = es
        self.settings = settings
        self.alias = settings.alias
        self.write_alias = settings.write_alias

    def new_index_name(self) -> str:
        return f"{self.alias}-{time.strftime('%Y%m%d%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:6]}"

    async def create_index(self, name: str, *, aliases: dict | None = None) -> None:
        await self.es.indices.create(
            index=name, settings=index_settings(self.settings), mappings=MAPPINGS, aliases=aliases or {}
        )

    async def ensure(self) -> None:
        """First start: create the first index behind both aliases (several replicas may race: one wins). Later
        starts: add fields a newer version maps to the existing indices (a changed field needs a reindex)."""
        if await self.es.indices.exists_alias(name=self.alias):
            await self._add_new_fields()
            return
        try:
            await self.create_index(f"{self.alias}-v1", aliases={self.alias: {}, self.write_alias: {}})
        except BadRequestError as exc:
            if "already_exists" not in str(exc.error):
                raise

    async def _add_new_fields(self) -> None:
        targets = sorted(set(await self.read_indices()) | set(await self.write_indices()))
        if not targets:
            return
        try:
            await self.es.indices.put_mapping(index=",".join(targets), properties=MAPPINGS["properties"])
        except BadRequestError:
            # strict mapping + a changed field: writes would be refused; a reindex builds an index with the new one
            log.exception("the index mapping differs from this version's: run a reindex (POST .../admin/reindex)",
                          extra={"indices": targets})

    async def _indices_of(self, alias: str) -> list[str]:
        response = await self.es.options(ignore_status=404).indices.get_alias(name=alias)
        if response.meta.status == 404:
            return []
        return sorted(response.body)

    async def read_indices(self) -> list[str]:
        return await self._indices_of(self.alias)

    async def write_indices(self) -> list[str]:
        return await self._indices_of(self.write_alias)

    async def add_write_index(self, name: str) -> None:
        await self.es.indices.update_aliases(actions=[{"add": {"index": name, "alias": self.write_alias}}])

    async def drop_write_index(self, name: str) -> None:
        await self.es.indices.update_aliases(actions=[{"remove": {"index": name, "alias": self.write_alias}}])

    async def swap(self, new: str) -> list[str]:
        """Point both aliases at `new` only, in one atomic call; returns the indices it left."""
        old = [i for i in await self.read_indices() if i != new]
        old_writes = [i for i in await self.write_indices() if i != new]
        actions: list[dict] = [{"add": {"index": new, "alias": self.alias}}]
        actions += [{"remove": {"index": i, "alias": self.alias}} for i in old]
        actions += [{"remove": {"index": i, "alias": self.write_alias}} for i in old_writes]
        actions += [{"add": {"index": new, "alias": self.write_alias}}]
        await self.es.indices.update_aliases(actions=actions)
        return sorted(set(old) | set(old_writes))

    async def delete(self, names: list[str]) -> None:
        if names:
            await self.es.indices.delete(index=",".join(names), ignore_unavailable=True)
