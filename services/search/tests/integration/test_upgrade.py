"""A newer version that maps a new field starts on an index an older version created, and keeps indexing."""

import copy

import pytest
from agora_search.adapters import indices
from elasticsearch import AsyncElasticsearch

pytestmark = pytest.mark.servers("kafka", "elasticsearch")


@pytest.fixture
async def index_of_an_older_version(settings):
    older = copy.deepcopy(indices.MAPPINGS)
    del older["properties"]["answer_author_ids"]  # a field this version added
    es = AsyncElasticsearch(settings.elasticsearch_url)
    try:
        await es.indices.create(index=f"{settings.alias}-v1", settings=indices.index_settings(settings),
                                mappings=older, aliases={settings.alias: {}, settings.write_alias: {}})
    finally:
        await es.close()


async def test_new_fields_are_added_to_the_existing_index(index_of_an_older_version, api, content, settings):
    await content.ask("q1", "Asked after the upgrade")
    await content.answer("a1", "q1", "Answered after the upgrade", author="ann")
    await api.wait_for(lambda r: r["hits"] and r["hits"][0]["answer_count"] == 1, q="upgrade")
    es = AsyncElasticsearch(settings.elasticsearch_url)
    try:
        found = await es.search(index=settings.alias, query={"term": {"answer_author_ids": "ann"}})
    finally:
        await es.close()
    assert [h["_id"] for h in found["hits"]["hits"]] == ["q1"]
