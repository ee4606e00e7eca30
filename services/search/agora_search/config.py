from agora_common.settings import ServiceSettings
from pydantic import Field


class Settings(ServiceSettings):
    service_name: str = "search"

    # Read alias the API searches; "<alias>-write" lists every index the indexer writes to (two while reindexing).
    # Empty: derived from the topic prefix ("agora." -> "agora-posts"), so tenants and tests never collide.
    index_alias: str = ""
    index_shards: int = Field(default=1, ge=1)  # primary shards of a new index
    index_replicas: int = Field(default=0, ge=0)  # replica shards of a new index (production: at least 1)
    # The indexer refreshes explicitly after writing (at most every refresh_every_seconds), so new posts are
    # searchable within a fraction of a second; the index's own periodic refresh is only a fallback.
    refresh_interval: str = "1s"
    refresh_every_seconds: float = Field(default=0.1, ge=0, le=10)

    run_indexer: bool = True  # consume the content topic in this process
    # How long an indexer fetch waits for records (ms; adapters/consumer.py explains the low value).
    fetch_max_wait_ms: int = Field(default=50, ge=1, le=500)
    indexer_batch: int = Field(default=500, ge=1, le=5000)  # events per bulk request of the indexer

    pit_keep_alive: str = "2m"  # how long a search's point in time (its cursor) stays open between pages
    # After an alias swap the old index lives this long, so writes and cursors already in flight finish.
    reindex_grace_seconds: float = Field(default=5.0, ge=0)

    # The demand report (GET /search/demand, operators). Searches that found nothing are counted per normalised
    # query and filter, never with the user: at most zero_hit_max_queries of them are kept (beyond it the least
    # searched, then least recent, give way).
    zero_hit_max_queries: int = Field(default=10_000, ge=10, le=1_000_000)
    zero_hit_max_per_second: float = Field(default=50.0, gt=0)  # zero-hit recordings per process; more are dropped
    # Zero-hit queries not seen for this many days are forgotten, and the activity log (questions, answers and
    # votes per tag) keeps this many days; a report's period is at most half of it (it compares two periods).
    demand_retention_days: int = Field(default=90, ge=2, le=730)

    @property
    def alias(self) -> str:
        if self.index_alias:
            return self.index_alias.lower()
        return self.topic_prefix.strip(".").replace(".", "-").lower() + "-posts"

    @property
    def write_alias(self) -> str:
        return f"{self.alias}-write"

    @property
    def deleted_authors_index(self) -> str:
        # not versioned with the posts indices (a reindex reads it); the dot keeps it out of "<alias>-*"
        return f"{self.alias}.deleted-authors"

    @property
    def member_names_index(self) -> str:
        # members' display names from the users topic (adapters/member_names.py); like deleted-authors, unversioned
        return f"{self.alias}.member-names"

    @property
    def zero_hits_index(self) -> str:
        # searches that found nothing (adapters/demand.py); unversioned like the other small indices
        return f"{self.alias}.zero-hits"

    @property
    def activity_index(self) -> str:
        # questions, answers and votes per tag over the retention window (the demand report's trends)
        return f"{self.alias}.activity"

    @property
    def tag_follows_index(self) -> str:
        # who follows which tag, from the users topic (TagFollowed / TagUnfollowed)
        return f"{self.alias}.tag-follows"
