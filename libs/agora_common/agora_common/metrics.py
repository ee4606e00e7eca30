"""Prometheus metrics shared by every service (HTTP metrics come from prometheus-fastapi-instrumentator)."""

from prometheus_client import Counter, Gauge, Histogram

EVENTS_PUBLISHED = Counter(
    "agora_events_published_total", "Domain events published to Kafka", ["topic", "type"]
)
EVENTS_CONSUMED = Counter(
    "agora_events_consumed_total", "Domain events handled by a consumer", ["group", "topic", "type"]
)
EVENTS_DEAD_LETTERED = Counter(
    "agora_events_dead_lettered_total", "Events sent to the dead-letter topic", ["group", "reason"]
)
# Both measured by the broker-side lag monitor (agora_common.consumer_lag), not by the consumers: they keep growing
# while a consumer is dead or stuck. Every replica of a service reports its groups' whole lag (max across replicas).
CONSUMER_LAG = Gauge(
    "agora_consumer_lag_messages",
    "Messages a consumer group has not consumed yet (high watermark - committed offset), asked of the broker",
    ["group", "topic", "partition"],
)
CONSUMER_LAG_SECONDS = Gauge(
    "agora_consumer_lag_seconds",
    "How long the oldest message a consumer group has not consumed yet has been in the log (0 when caught up)",
    ["group", "topic", "partition"],
)
EVENT_AGE = Histogram(
    "agora_event_processing_lag_seconds",
    "Event time to end of handling, per consumer group",
    ["group"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
TRANSACTION_RETRIES = Counter(
    "agora_transaction_retries_total", "Units of work run again after a write conflict (contention on one aggregate)"
)
TRANSACTIONS_CONTENDED = Counter(
    "agora_transactions_contended_total",
    "Units of work given up after every retry or a time limit in a queue (clients got 503 contention)",
)
OUTBOX_PENDING = Gauge("agora_outbox_pending", "Outbox entries not yet relayed to Kafka (all of them, not one batch)")
OUTBOX_OLDEST_AGE = Gauge(
    "agora_outbox_oldest_pending_age_seconds",
    "Age of the oldest outbox entry not yet relayed to Kafka (0 when none waits): how late the events are",
)

REQUEST_DB_SECONDS = Histogram(
    "agora_http_request_db_seconds",
    "Time each HTTP request waited on its database (or search engine), the db part of Server-Timing",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
CONSUMER_RUNNING = Gauge(
    "agora_consumer_running", "1 while a service's consumer of other services' events runs, 0 while it is down",
    ["group"],
)
