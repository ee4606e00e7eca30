"""Points-specific Prometheus metrics (the alert rules use these exact names)."""

from prometheus_client import Counter, Gauge, Histogram

EVENTS = Counter("agora_points_events_total", "Domain events applied by the points engine", ["type"])
ENTRIES = Counter("agora_points_entries_total", "Ledger entries written (awards, reversals, re-grants)")
LAG = Histogram(
    "agora_points_processing_lag_seconds",
    "Event time to the moment its points are applied and visible",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
CAP_HITS = Counter("agora_points_cap_hits_total", "Award entries cut by the daily cap")
DUPLICATES = Counter("agora_points_duplicate_events_total", "Events seen again (redelivery, replay) and ignored")
TITLES = Counter("agora_points_title_events_total", "HonorTitleEarned / HonorTitleLost published", ["type"])
READY = Gauge("agora_points_ready", "1 once the start-up replay has caught up with the log")
BOARD_CELLS_PENDING = Gauge("agora_points_board_cells_pending",
                            "Leaderboard cells (board, user) changed and not yet written to Redis")
BOARD_WRITE = Histogram("agora_points_board_write_seconds", "One write of changed leaderboard cells to Redis",
                        buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5))
SNAPSHOT_EXPORT = Histogram(
    "agora_points_snapshot_export_seconds",
    "The pause of a stage while it exports a partition's state for a snapshot (kind: whole or changes)", ["kind"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
SNAPSHOT_BYTES = Counter("agora_points_snapshot_bytes_total", "Bytes of state snapshots written (kind: whole or changes)",
                         ["kind"])
# Where publish -> visible goes, hop by hop (the bench prints their means per stage: route, derive, book)
STAGE_WAIT = Histogram(
    "agora_points_stage_wait_seconds",
    "From the moment a batch's oldest record was written to the stage's input topic until the stage starts on it "
    "(the fetch, and the worker busy with its other stages), for partitions it serves", ["stage"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
STAGE_HANDLE = Histogram(
    "agora_points_stage_handle_seconds", "One batch through a stage until its outputs are acknowledged", ["stage"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
