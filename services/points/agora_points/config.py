import socket

from agora_common.settings import ServiceSettings
from pydantic import Field


class Settings(ServiceSettings):
    service_name: str = "points"

    # The rules in force (YAML). Default: the packaged rules-v2.yaml.
    points_rules_file: str | None = None
    # Every instance holds the WHOLE state, so each consumes every partition in its own consumer group
    # ({topic_prefix}points-{instance}); several instances = several full read replicas.
    points_instance: str = Field(default_factory=lambda: socket.gethostname().split(".")[0] or "0")
    # Live batching: up to batch_max events, or whatever one fetch brought.
    points_batch_max: int = Field(default=5_000, ge=1)
    # Catch-up (replay of the log at start-up) batch size.
    points_replay_batch: int = Field(default=20_000, ge=1)
    points_publish_titles: bool = True  # publish HonorTitleEarned / HonorTitleLost (the users service awards titles)
    # Where to keep engine snapshots (shortens restarts: only the log after them is replayed). Unset: no
    # snapshots, every start replays the whole log. AGORA_DATA_DIR is what `make run` gives each service.
    data_dir: str | None = None
    points_snapshot_interval: float = Field(default=60.0, gt=0)  # at most one snapshot this often (seconds)

    # The leaderboards' sorted sets (any Redis 6+; `make run` and the tests start a local redis-server). TLS and
    # credentials in the URL: rediss://:password@host:6379/0?ssl_ca_certs=/etc/agora/redis-ca/ca.crt
    redis_url: str = "redis://127.0.0.1:6379/0"
