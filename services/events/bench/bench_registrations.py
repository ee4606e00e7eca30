"""Registration rush: N members register at once for C places; prints the time and the outcome.

    .venv/bin/python services/events/bench/bench_registrations.py [--users 200] [--places 50]

Starts its own embedded servers (SecantusDB for MongoDB, Tansu for Kafka) unless AGORA_MONGO_URL /
AGORA_KAFKA_BOOTSTRAP are set. The figures describe the events service on the embedded, single-threaded Python
database of the dev machine: production runs on MongoDB.
"""

import argparse
import asyncio
import os
import platform
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from agora_common.auth import issue_token
from agora_devservers import start_kafka, start_mongo
from agora_events.config import Settings
from agora_events.main import create_app
from asgi_lifespan import LifespanManager


async def rush(settings: Settings, users: int, places: int, instances: int) -> dict:
    apps = [create_app(settings) for _ in range(instances)]
    managers = [LifespanManager(a) for a in apps]
    clients = []
    try:
        for m in managers:
            await m.__aenter__()
            clients.append(httpx.AsyncClient(transport=httpx.ASGITransport(app=m.app), base_url="http://b", timeout=300))

        def h(user: str, *roles: str) -> dict:
            return {"Authorization": "Bearer " + issue_token(settings, user_id=user, roles=list(roles) or ["member"],
                                                             kind="access")[0]}

        op = h("op", "operator")
        body = {"kind": "training", "title": "Rush", "capacity": places,
                "starts_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()}
        eid = (await clients[0].post("/api/v1/events", json=body, headers=op)).json()["id"]
        for action in ("publish", "open-registration"):
            await clients[0].post(f"/api/v1/events/{eid}/{action}", headers=op)
        start = time.perf_counter()
        responses = await asyncio.gather(*(
            clients[i % instances].post(f"/api/v1/events/{eid}/registrations", headers=h(f"u{i}"))
            for i in range(users)
        ))
        elapsed = time.perf_counter() - start
        statuses = [r.json().get("status") for r in responses]
        return {"instances": instances, "seconds": round(elapsed, 2), "per_second": round(users / elapsed, 1),
                "confirmed": statuses.count("confirmed"), "waitlisted": statuses.count("waitlisted"),
                "errors": sum(r.status_code != 201 for r in responses)}
    finally:
        for c in clients:
            await c.aclose()
        for m in reversed(managers):
            await m.__aexit__(None, None, None)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--places", type=int, default=50)
    args = parser.parse_args()
    servers = []
    mongo_url = os.environ.get("AGORA_MONGO_URL")
    kafka = os.environ.get("AGORA_KAFKA_BOOTSTRAP")
    if not mongo_url:
        servers.append(start_mongo())
        mongo_url = servers[-1].url
    if not kafka:
        servers.append(start_kafka())
        kafka = servers[-1].url
    try:
        print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores; "
              f"database: {'embedded SecantusDB' if len(servers) else mongo_url}; broker: Tansu/Kafka")
        print(f"{args.users} concurrent registrations for {args.places} places")
        print(f"{'instances':>9} {'seconds':>8} {'regs/s':>8} {'confirmed':>9} {'waitlisted':>10} {'errors':>6}")
        for instances in (1, 2):
            name = "bench" + uuid.uuid4().hex[:8]
            settings = Settings(mongo_url=mongo_url, kafka_bootstrap=kafka, mongo_db=name, topic_prefix=f"{name}.",
                                log_level="WARNING")
            r = await rush(settings, args.users, args.places, instances)
            print(f"{r['instances']:>9} {r['seconds']:>8} {r['per_second']:>8} {r['confirmed']:>9} "
                  f"{r['waitlisted']:>10} {r['errors']:>6}")
    finally:
        for s in servers:
            s.stop()


if __name__ == "__main__":
    asyncio.run(main())
