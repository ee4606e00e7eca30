"""The search service's two consumer groups (the indexer and the members consumer) have their lag asked of the
broker (agora_consumer_lag_*, AgoraKafkaConsumerLagHigh), by a monitor that the app starts before anything else."""

from agora_common.runtime import group_id
from agora_search.config import Settings
from agora_search.service.indexing import LiveIndexer
from elasticsearch import AsyncElasticsearch


async def test_the_indexer_and_members_groups_are_watched():
    settings = Settings(topic_prefix="t.", consumer_lag_interval_s=4)
    es = AsyncElasticsearch("http://127.0.0.1:9")
    try:
        indexer = LiveIndexer(es, settings)
        assert indexer.lag.groups == {group_id(settings, "indexer"): ("t.content",),
                                      group_id(settings, "members"): ("t.users",)}
        assert indexer.lag._interval == 4
    finally:
        await es.close()
