"""The points service: one process is one worker of the partitioned stream processor (its three stages, each in
a consumer group shared with the other workers) and the query API over the users it owns.

    AGORA_KAFKA_BOOTSTRAP=127.0.0.1:9092 uvicorn --factory agora_points.main:create_app --port 8004
"""

import asyncio
import gc
import logging
from contextlib import asynccontextmanager

import httpx
from agora_common.consumer_lag import ConsumerLagMonitor
from agora_common.lifecycle import cancel_and_wait, shut_down
from agora_common.retry import until_done
from agora_common.topics import Topics
from agora_common.web import create_app as create_base_app
from fastapi import FastAPI
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from agora_points import metrics
from agora_points.adapters.leaderboards import Leaderboards
from agora_points.api.deps import install_owner_forwarding
from agora_points.api.routes import router
from agora_points.config import Settings
from agora_points.domain.engine import rules_fingerprint
from agora_points.domain.rules import load_rules
from agora_points.service.board_sync import BoardSync
from agora_points.service.processor import PointsProcessor

log = logging.getLogger(__name__)


async def _run(app: FastAPI, settings: Settings) -> None:
    """Start-up that survives a broker that is briefly down, then the three stages until the worker stops. A
    stage that fails leaves figures that only a restart repairs (its partitions restored from their topics)."""
    processor: PointsProcessor = app.state.processor

    await until_done(processor.create_topics, what="points start-up", first=0.5, cap=10.0)
    members = [asyncio.create_task(m.run(), name=f"points-{m.group_id}") for m in processor.members]
    watch = asyncio.create_task(_mark_ready(processor), name="points-ready")
    try:
        done, _ = await asyncio.wait(members, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a stage is gone: /healthz fails, so the worker is restarted
        log.exception("a points stage stopped")
        processor.failure = f"stage stopped: {type(exc).__name__}: {exc}"[:300]
        metrics.READY.set(0)  # AgoraPointsNotReady
    finally:
        for task in (*members, watch):
            await cancel_and_wait(task)


async def _mark_ready(processor: PointsProcessor) -> None:
    while not processor.ready:
        await asyncio.sleep(0.1)
    metrics.READY.set(1)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    # Far fewer young-generation collections: scoring allocates many small objects that live on in the state
    # cache (chains, ledger heads, board cells), and each collection of a big heap is a pause in scoring and in the
    # API.
    gc.set_threshold(50_000, 20, 100)
    rules = load_rules(settings.points_rules_file)
    topics = Topics(settings.topic_prefix)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        fingerprint = rules_fingerprint(rules)
        processor = app.state.processor = PointsProcessor(
            rules=rules, fingerprint=fingerprint, kafka=settings.kafka, topics=topics,
            publish_titles=settings.points_publish_titles, batch_max=settings.points_batch_max,
            partitions=settings.points_partitions, replication=settings.points_topic_replication,
            state_dir=settings.state_dir(), state_cache_mib=settings.points_state_cache_mib,
            standby_replicas=settings.points_standby_replicas, snapshot_mib=settings.points_snapshot_mib,
            domain_partitions=settings.topic_partitions, create_domain_topics=settings.create_topics,
        )
        # boards of other rules or another engine version live under other keys: a re-score never mixes them
        app.state.leaderboards = Leaderboards(
            settings.redis_url, namespace=f"{settings.topic_prefix}points:{fingerprint[:16]}:")
        app.state.advertised_url = settings.points_advertised_url
        app.state.board_sync = BoardSync(app.state.leaderboards, processor.keeper,
                                         advertised_url=settings.points_advertised_url)
        app.state.board_sync.start()
        app.state.owners = httpx.AsyncClient(timeout=10.0)  # per-user reads forwarded to the worker owning the user
        # Every stage's group commits what it has handled, so its lag is asked of the broker like every other
        # group's: it keeps growing while a stage restores its partitions, or after it stopped.
        lag = ConsumerLagMonitor(settings.kafka, interval=settings.consumer_lag_interval_s,
                                 client_id=f"{processor.groups['book']}-lag")
        for member in processor.members:
            lag.watch(member.group_id, member.topics)
        lag.start()
        app.state.live = asyncio.create_task(_run(app, settings), name="points-worker")
        try:
            yield
        finally:
            if settings.points_stop_snapshot_s > 0:  # a clean stop leaves the state in snapshots (GroupMember.stop)
                for member in processor.members:
                    member.stop()
                await asyncio.wait({app.state.live}, timeout=settings.points_stop_snapshot_s)
            await cancel_and_wait(app.state.live)
            await shut_down(("consumer lag monitor", lag.stop),
                            ("leaderboards", app.state.board_sync.stop),
                            ("processor", processor.stop),
                            ("owner client", app.state.owners.aclose),
                            timeout=10.0, budget=settings.shutdown_budget_s)

    async def caught_up(app: FastAPI) -> None:
        processor = app.state.processor
        if processor.failure:
            raise RuntimeError(f"a stage failed: {processor.failure}")
        if not processor.ready:
            handled = sum(m.records_handled for m in processor.members)
            raise RuntimeError(f"reading the stages' partitions to their end ({handled} records so far)")

    async def live_path_healthy(app: FastAPI) -> None:
        # A stage that failed is repaired only by a restart (its partitions are restored from their topics):
        # failing liveness gets one; readiness alone would just hide the stale figures.
        if app.state.processor.failure:
            raise RuntimeError(app.state.processor.failure)

    app = create_base_app(
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
    install_owner_forwarding(app)
    return app
