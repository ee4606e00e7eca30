"""The search service's Prometheus metrics (names are used by alerts: do not rename)."""

from prometheus_client import Counter, Histogram

INDEXING_LAG = Histogram(
    "agora_search_indexing_lag_seconds",
    "Content event time to the post being searchable (after the index refresh the indexer waits for)",
    buckets=(0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, 60, 300),
)
DOCUMENTS_INDEXED = Counter(
    "agora_search_documents_indexed_total", "Search documents written (created or updated) to an index"
)
QUERY_DURATION = Histogram(
    "agora_search_query_duration_seconds",
    "Search and suggest time: part=engine is Elasticsearch's own time (took), part=service the service's own "
    "work (request handling minus the Elasticsearch round trip)",
    ["part"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
