"""The points service: one process runs the stream processor (start-up catch-up, then the live tail) and
the query API over the same in-memory state.

    AGORA_KAFKA_BOOTSTRAP=127.0.0.1:9092 uvicorn --factory agora_points.main:create_app --port 8004
"""

import asyncio
import gc
import logging
from contextlib import asynccontextmanager

from agora_common.consumer_lag import ConsumerLagMonitor
from agora_common.kafka import ensure_topics
from agora_common.lifecycle import cancel_and_wait, shut_down
from agora_common.retry import until_done
from agora_common.topics import Topics
from agora_common.web import create_app as create_base_app
from fastapi import FastAPI
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from agora_points import metrics
from agora_points.adapters.leaderboards import Leaderboards
from agora_points.adapters.live_tail import tail
from agora_points.api.routes import router
from agora_points.config import Settings
from agora_points.domain.rules import load_rules
from agora_points.service.board_sync import BoardSync
from agora_points.service.processor import PointsProcessor
from agora_points.service.snapshots import Snapshots, rules_fingerprint

log = logging.getLogger(__name__)


async def _run(app: FastAPI, settings: Settings) -> None:
    """Start-up that survives a broker that is briefly down: retry until the catch-up is done, then go live."""
    processor: PointsProcessor = app.state.processor
    topics = Topics(settings.topic_prefix)

    async def start_up() -> None:
        processor.reset()  # a failed try is redone from scratch: the log is the truth
        await ensure_topics(settings.kafka, topics.all(), partitions=settings.topic_partitions,
                            create=settings.create_topics)
        await processor.catch_up()

    await until_done(start_up, what="points start-up", first=0.5, cap=10.0)
    try:
        await tail(processor, batch_max=settings.points_batch_max)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # the live consumer is gone: /healthz fails, so the instance is restarted
        log.exception("points live consumer stopped")
        processor.failure = f"live consumer stopped: {type(exc).__name__}: {exc}"[:300]
        metrics.READY.set(0)  # AgoraPointsNotReady


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    # Far fewer young-generation collections: scoring allocates many small objects that live on (ledger
    # entries), and each collection of a big heap is a pause in scoring and in the API.
    gc.set_threshold(50_000, 20, 100)
    rules = load_rules(settings.points_rules_file)
    topics = Topics(settings.topic_prefix)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.processor = PointsProcessor(
            rules=rules, kafka=settings.kafka, topics=topics,
            group_id=f"{settings.topic_prefix}points-{settings.points_instance}",
            publish_titles=settings.points_publish_titles, replay_batch=settings.points_replay_batch,
        )
        # boards of other rules or another engine version live under other keys: a re-score never mixes them
        app.state.leaderboards = Leaderboards(
            settings.redis_url, namespace=f"{settings.topic_prefix}points:{rules_fingerprint(rules)[:16]}:")
        app.state.processor.board_sync = BoardSync(app.state.leaderboards)
        if settings.data_dir:
            app.state.processor.snapshots = Snapshots(
                settings.data_dir, rules=rules, topic_prefix=settings.topic_prefix,
                interval=settings.points_snapshot_interval)
        # The instance's group commits what it has applied (the live tail: about once a second; the start-up
        # catch-up: where it ended), so its lag is asked of
        # the broker like every other group's, from the start on: it keeps growing while the replica replays,
        # or after its live consumer stopped.
        lag = ConsumerLagMonitor(settings.kafka, interval=settings.consumer_lag_interval_s,
                                 client_id=f"{app.state.processor.group_id}-lag")
        lag.watch(app.state.processor.group_id, app.state.processor.input_topics)
        lag.start()
        # the start-up replay, then the live tail
        app.state.live = asyncio.create_task(_run(app, settings), name="points-live")
        try:
            yield
        finally:
            await cancel_and_wait(app.state.live)
            snapshots = app.state.processor.snapshots
            await shut_down(("consumer lag monitor", lag.stop),
                            ("processor", app.state.processor.stop),
                            *([("snapshot", snapshots.finish)] if snapshots is not None else []),
                            timeout=10.0, budget=settings.shutdown_budget_s)

    async def caught_up(app: FastAPI) -> None:
        processor = app.state.processor
        if processor.failure:
            raise RuntimeError(f"a live batch failed: {processor.failure}")
        if not processor.ready:
            raise RuntimeError(f"replaying the event log ({processor.caught_up_events} events so far)")

    async def live_path_healthy(app: FastAPI) -> None:
        # A live batch that failed, or a live consumer that stopped, is repaired only by a restart (the state is
        # rebuilt from the log): failing liveness gets one; readiness alone would just hide the stale figures.
        if app.state.processor.failure:
            raise RuntimeError(app.state.processor.failure)

    return create_base_app(
        settings=settings,
        title="Agora points",
        description=(
            "Points ledger, leaderboards and honor titles computed in real time from domain events. "
            f"Rules version {rules.version}."
        ),
        routers=[router],
        lifespan=lifespan,
        readiness_checks=[caught_up],
        liveness_checks=[live_path_healthy],
        unavailable={RedisConnectionError: "leaderboard store", RedisTimeoutError: "leaderboard store"},
    )
