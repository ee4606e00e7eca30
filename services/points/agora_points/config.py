import tempfile
from pathlib import Path

from agora_common.settings import ServiceSettings
from pydantic import Field


class Settings(ServiceSettings):
    service_name: str = "points"

    # The rules in force (YAML). Default: the packaged rules-v2.yaml.
    points_rules_file: str | None = None
    # Partitions of the points service's own topics (facts by root, award states by user): the most workers that
    # can share the work. The service creates these topics itself, since they are named by the rules'
    # fingerprint (whole history kept: they are the stages' changelogs), with this replication factor; again with
    # the same count if a broker came back without them. Default 4: enough for `make run` (the chart sets more).
    points_partitions: int = Field(default=4, ge=1, le=1000)
    points_topic_replication: int = Field(default=1, ge=1, le=10)
    # How other workers reach this one (http://host:port), for per-user reads of the users it owns. Unset: one
    # worker, or reads for users another worker owns answer 503.
    points_advertised_url: str | None = None
    # Live batching: up to batch_max records per fetch and stage.
    points_batch_max: int = Field(default=5_000, ge=1)
    # Where a worker keeps its partitions' state (RocksDB; wiped at start, since the service's topics are the
    # changelogs it is restored from). Unset: a new temporary directory per process. The chart mounts an emptyDir.
    points_state_dir: str | None = None
    # Memory for the state used last, decoded (chains, switches and once-per groups of stage 1; ledger heads and
    # board cells of stage 2; estimated at ~1.5 KB per event or entry they hold); the rest is on disk. A worker's
    # memory grows with this and with its members (display names, statuses), not with the history.
    points_state_cache_mib: float = Field(default=128, ge=1)
    points_publish_titles: bool = True  # publish HonorTitleEarned / HonorTitleLost (the users service awards titles)
    # Standby replicas: each partition's state also kept warm by one other worker (named by the group's assignor),
    # so that when its owner dies the partition moves to that worker and is served after reading only what the
    # copy had not reached, not the whole history. Costs each worker the CPU and disk of the copies it keeps
    # (about as much again as its own partitions); nothing with one worker.
    points_standby_replicas: bool = True
    # State snapshots: each stateful stage writes its partitions' state to a topic of its own (`...-snapshots`)
    # once this much of a partition's input (MiB) was handled since the last one: the keys changed since then, or
    # the whole state once those changes add up to its size. A partition given to a worker without its state
    # loads the newest one (and those it is on top of) and reads its input only from there, instead of from the
    # beginning. 0: no snapshots.
    points_snapshot_mib: float = Field(default=8, ge=0)
    # On a clean stop (a rolling update, a scale-in), each stateful stage ends after its batch and writes a snapshot
    # of every partition with input since its last one, unthrottled, for at most this long (seconds; the chart
    # adds it to the pod's grace period): whoever is given the partition next then reads almost none of its input
    # again. 0: none (the next owner reads what came after the newest snapshot written while running).
    points_stop_snapshot_s: float = Field(default=15, ge=0)

    # The leaderboards' sorted sets (any Redis 6+; `make run` and the tests start a local redis-server). TLS and
    # credentials in the URL: rediss://:password@host:6379/0?ssl_ca_certs=/etc/agora/redis-ca/ca.crt
    redis_url: str = "redis://127.0.0.1:6379/0"

    def state_dir(self) -> Path:
        if self.points_state_dir:
            return Path(self.points_state_dir) / "points-state"
        return Path(tempfile.mkdtemp(prefix="agora-points-state-"))
