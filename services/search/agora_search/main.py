"""Search service: content events -> Elasticsearch index; search, autocomplete and reindex API."""

import asyncio
import logging
from contextlib import asynccontextmanager

from agora_common.kafka import ensure_topics
from agora_common.lifecycle import cancel_and_wait, shut_down
from agora_common.retry import until_done
from agora_common.topics import Topics
from agora_common.web import create_app as create_base_app
from elasticsearch import AsyncElasticsearch
from fastapi import FastAPI

from agora_search.adapters.deleted_authors import DeletedAuthors
from agora_search.adapters.demand import TagFollows
from agora_search.adapters.indices import IndexManager
from agora_search.adapters.member_names import MemberNames
from agora_search.api.demand import router as demand_router
from agora_search.api.routes import router
from agora_search.config import Settings
from agora_search.service import demand
from agora_search.service.indexing import LiveIndexer
from agora_search.service.reindex import ReindexJob

log = logging.getLogger(__name__)


def make_client(settings: Settings) -> AsyncElasticsearch:
    # https:// with a private CA: AGORA_ELASTICSEARCH_CA_CERTS names its file (otherwise the system's CAs)
    return AsyncElasticsearch(settings.elasticsearch_url, request_timeout=30, retry_on_timeout=True, max_retries=2,
                              ca_certs=settings.elasticsearch_ca_certs)


async def _prepare(app: FastAPI, settings: Settings) -> None:
    """Index, topics, then the indexer; each retried until its server answers, so the API boots regardless."""

    async def prepare() -> None:
        await IndexManager(app.state.es, settings).ensure()
        await DeletedAuthors(app.state.es, settings.deleted_authors_index).ensure()
        await MemberNames(app.state.es, settings.member_names_index).ensure()
        await demand.zero_hits(app.state.es, settings).ensure()
        await demand.activity_log(app.state.es, settings).ensure()
        await TagFollows(app.state.es, settings.tag_follows_index).ensure()
        await ensure_topics(settings.kafka, Topics(settings.topic_prefix).all(),
                            partitions=settings.topic_partitions, create=settings.create_topics)

    await until_done(prepare, what="search index and topics", first=0.5)
    if app.state.indexer is not None:
        await app.state.indexer.start()


async def elasticsearch_reachable(app: FastAPI) -> None:
    if not await app.state.es.ping():
        raise RuntimeError("elasticsearch does not answer")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.es = make_client(settings)
        app.state.indexer = LiveIndexer(app.state.es, settings) if settings.run_indexer else None
        app.state.reindex_job = ReindexJob(app.state.es, settings)
        app.state.zero_hits = demand.ZeroHitRecorder(demand.zero_hits(app.state.es, settings),
                                                     per_second=settings.zero_hit_max_per_second)
        if app.state.indexer is not None:
            app.state.indexer.lag.start()
        preparing = asyncio.create_task(_prepare(app, settings), name="search-prepare")
        try:
            yield
        finally:
            await cancel_and_wait(preparing)
            indexer = app.state.indexer
            await shut_down(
                ("reindex job", app.state.reindex_job.stop),
                ("zero-hit recordings", app.state.zero_hits.stop),
                *([("live indexer", indexer.stop)] if indexer is not None else []),
                ("elasticsearch client", app.state.es.close),
                budget=settings.shutdown_budget_s,
            )

    return create_base_app(
        settings=settings,
        title="Agora search",
        description="Full-text search over questions (with their answers) and articles, in English and Chinese: "
        "filters, facets, highlighting, typo tolerance, cursor pagination, autocomplete; zero-downtime reindex; "
        "the operators' demand report.",
        routers=[router, demand_router],
        lifespan=lifespan,
        readiness_checks=[elasticsearch_reachable],
    )
