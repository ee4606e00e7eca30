"""Install/upgrade job (helm hook): creates the Kafka topics, then every service's MongoDB indexes and search
indexes. Idempotent: safe on every upgrade, and alongside topics an operator created (e.g. Strimzi KafkaTopics).

Topics get the partition count and replication factor from AGORA_TOPIC_PARTITIONS and
AGORA_TOPIC_REPLICATION_FACTOR. Domain topics keep every event (retention.ms=-1 unless
AGORA_TOPIC_RETENTION_MS says otherwise): the points ledger and the search index are rebuilt by replaying
them, so a broker default of 7 days would silently lose history. The dead-letter topic keeps 30 days.
Existing topics are left as they are (an operator may manage them, e.g. as Strimzi KafkaTopics). Indexes are created by each service's own start-up code: the job builds each
app (create_app()) with that service's database and runs its lifespan once, so index definitions live in one
place, with the service.
"""

import asyncio
import contextlib
import importlib
import logging
import os
import sys

from agora_common.kafka import KafkaConnection
from agora_common.retry import until_done
from agora_common.settings import ServiceSettings
from agora_common.topics import Topics
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

log = logging.getLogger("agora.setup")
ATTEMPTS = 10
DEAD_LETTER_RETENTION_MS = str(30 * 24 * 3600 * 1000)


async def _retry(what: str, make_call) -> None:
    """Engines may still be starting: retry with the shared policy, then fail the job."""
    await until_done(make_call, what=what, first=1.0, cap=30.0, attempts=ATTEMPTS)
    log.info("%s: done", what)


def topic_specs() -> list[NewTopic]:
    topics = Topics(os.environ.get("AGORA_TOPIC_PREFIX", "agora."))
    partitions = int(os.environ.get("AGORA_TOPIC_PARTITIONS", "3"))
    replication = int(os.environ.get("AGORA_TOPIC_REPLICATION_FACTOR", "1"))
    # acks=all waits for this many in-sync copies: with 3 replicas, a write survives the loss of one broker
    min_insync = os.environ.get("AGORA_TOPIC_MIN_INSYNC_REPLICAS", str(min(2, replication)))
    domain = {"retention.ms": os.environ.get("AGORA_TOPIC_RETENTION_MS", "-1"), "min.insync.replicas": min_insync}
    specs = [NewTopic(name, partitions, replication, topic_configs=domain) for name in topics.all_domain()]
    specs.append(NewTopic(topics.dead_letter, partitions, replication,
                          topic_configs={"retention.ms": DEAD_LETTER_RETENTION_MS, "min.insync.replicas": min_insync}))
    return specs


async def _create_missing(kafka: KafkaConnection, specs: list[NewTopic]) -> None:
    admin = AIOKafkaAdminClient(**kafka.client_options())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # created meanwhile by a service starting up
                await admin.create_topics(missing)
        log.info("topics created: %s; already there: %s", [t.name for t in missing],
                 sorted(t.name for t in specs if t.name in existing))
    finally:
        await admin.close()


async def create_topics() -> None:
    if os.environ.get("AGORA_SETUP_CREATE_TOPICS", "true").lower() == "false":
        log.info("topics: managed elsewhere (Strimzi KafkaTopic resources)")
        return
    specs = topic_specs()
    kafka = ServiceSettings().kafka  # the same AGORA_KAFKA_* settings (TLS, SASL) as the services
    await _retry("topics", lambda: _create_missing(kafka, specs))


async def create_indexes(service: str) -> None:
    os.environ["AGORA_SERVICE_NAME"] = service
    os.environ["AGORA_MONGO_DB"] = os.environ.get("AGORA_MONGO_DATABASE_PREFIX", "agora_") + service
    app = importlib.import_module(f"agora_{service}.main").create_app()

    async def run_lifespan() -> None:
        async with app.router.lifespan_context(app):
            pass

    await _retry(f"{service}: indexes", run_lifespan)


async def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    await create_topics()
    services = [s for s in os.environ.get("AGORA_SETUP_SERVICES", "users,content,events,points,search").split(",") if s]
    for service in services:
        await create_indexes(service)
    log.info("setup complete: topics and indexes for %s", ", ".join(services))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
