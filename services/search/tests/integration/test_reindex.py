"""Zero-downtime reindex from the event log: searches never fail and never come back empty during the rebuild and
the alias swap; events published meanwhile are in the new index; the old index is removed."""

import asyncio
import os
import subprocess
import sys

import pytest
from agora_common.events import content as ev
from agora_testing.waiting import eventually
from elasticsearch import AsyncElasticsearch

pytestmark = pytest.mark.servers("kafka", "elasticsearch")


async def _aliases(settings) -> tuple[list[str], list[str], list[str]]:
    es = AsyncElasticsearch(settings.elasticsearch_url)
    try:
        read = sorted((await es.indices.get_alias(name=settings.alias)).body)
        write = sorted((await es.indices.get_alias(name=settings.write_alias)).body)
        every = sorted((await es.indices.get(index=f"{settings.alias}-*")).body)
    finally:
        await es.close()
    return read, write, every


async def test_reindex_while_querying(api, client, content, corpus, settings, operator_headers):
    await content.send(ev.PostDeleted(post_id="q2", post_type="question", author_id="bob", deleted_by="m"))
    before = await api.wait_for(lambda r: r["total"] == 3, sort="newest")
    (old_index,), _, _ = await _aliases(settings)

    failures: list[str] = []
    totals: list[int] = []
    stop = asyncio.Event()

    async def keep_searching():
        while not stop.is_set():
            for params in ({"sort": "newest"}, {"q": "kafka"}):
                response = await client.get("/api/v1/search", params=params)
                if response.status_code != 200:
                    failures.append(response.text)
                elif "q" not in params:
                    totals.append(response.json()["total"])
            await asyncio.sleep(0.01)

    searcher = asyncio.create_task(keep_searching())
    try:
        response = await client.post("/api/v1/search/admin/reindex", headers=operator_headers)
        assert response.status_code == 202, response.text
        assert (await client.post("/api/v1/search/admin/reindex", headers=operator_headers)).status_code == 409
        await content.ask("q9", "Asked during the reindex", minutes=50)

        async def finished():
            status = (await client.get("/api/v1/search/admin/reindex", headers=operator_headers)).json()
            assert status["state"] in ("succeeded", "failed"), status
            return status

        status = await eventually(finished, timeout=60)
        await api.wait_ids(["q9"], q="reindex")
    finally:
        stop.set()
        await searcher
    assert status["state"] == "succeeded" and status["replaced"] == [old_index], status
    assert status["events_read"] == status["events_total"] > 0
    assert failures == []
    assert len(totals) > 3 and min(totals) >= 3  # never empty, never an error, across the swap

    read, write, every = await _aliases(settings)
    assert read == write == every == [status["index"]]  # swapped, and the old index is gone
    after = await api.search(sort="newest")
    assert api.ids(after) == ["q9", *api.ids(before)]  # the deleted question stays deleted after the rebuild
    assert [h["score"] for h in after["hits"][1:]] == [h["score"] for h in before["hits"]]


async def test_reindex_cli(api, content, corpus, settings):
    (old_index,), _, _ = await _aliases(settings)
    env = dict(os.environ, AGORA_KAFKA_BOOTSTRAP=settings.kafka_bootstrap, AGORA_TOPIC_PREFIX=settings.topic_prefix,
               AGORA_ELASTICSEARCH_URL=settings.elasticsearch_url)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agora_search.reindex", "--grace-seconds", "0",
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()[-2000:]
    assert '"state": "succeeded"' in out.decode()
    read, _, every = await _aliases(settings)
    assert read == every and read != [old_index]
    assert (await api.search())["total"] == 4


async def test_an_index_left_by_a_crashed_reindex_blocks_until_forced(api, client, corpus, settings,
                                                                      operator_headers):
    es = AsyncElasticsearch(settings.elasticsearch_url)
    try:  # what a reindex leaves when its process dies between its first step and the swap
        await es.indices.create(index=f"{settings.alias}-crashed")
        await es.indices.update_aliases(actions=[{"add": {"index": f"{settings.alias}-crashed",
                                                          "alias": settings.write_alias}}])
    finally:
        await es.close()
    response = await client.post("/api/v1/search/admin/reindex", headers=operator_headers)
    assert response.status_code == 409 and response.json()["error"]["code"] == "reindex_running"
    response = await client.post("/api/v1/search/admin/reindex", params={"force": "true"}, headers=operator_headers)
    assert response.status_code == 202

    async def finished():
        status = (await client.get("/api/v1/search/admin/reindex", headers=operator_headers)).json()
        assert status["state"] == "succeeded", status
        return status

    status = await eventually(finished, timeout=60)
    read, write, every = await _aliases(settings)
    assert read == write == every == [status["index"]]
    assert (await api.search())["total"] == 4
