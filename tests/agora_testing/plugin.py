"""Integration fixtures: each server comes from, in order,

1. an address in the environment (AGORA_KAFKA_BOOTSTRAP, AGORA_MONGO_URL, AGORA_ELASTICSEARCH_URL,
   AGORA_REDIS_URL),
2. a testcontainers container when a Docker engine answers,
3. otherwise an embedded server installed from PyPI (agora_devservers), on a free loopback port.

Servers are started lazily (only if a test asks) and once per session. Tests isolate themselves with
`agora_env`: a fresh topic prefix (its domain topics made, as the setup job does) and database name per test, on
the shared servers.
"""

import asyncio
import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

log = logging.getLogger(__name__)


def _docker_available() -> bool:
    if os.environ.get("AGORA_NO_DOCKER"):
        return False
    try:
        import docker  # installed with testcontainers

        docker.from_env(timeout=2).ping()
        return True
    except Exception:  # noqa: BLE001 - no engine, no socket, no permission: all mean "no Docker"
        return False


@pytest.fixture(scope="session")
def _server_stack(tmp_path_factory) -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


@pytest.fixture(scope="session")
def server_logs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("server-logs")


@pytest.fixture(scope="session")
def kafka_bootstrap(_server_stack: ExitStack, server_logs: Path) -> str:
    if url := os.environ.get("AGORA_KAFKA_BOOTSTRAP"):
        return url
    if _docker_available():
        from testcontainers.kafka import KafkaContainer

        container = _server_stack.enter_context(KafkaContainer())
        return container.get_bootstrap_server()
    from agora_devservers import start_kafka

    server = start_kafka(log_dir=server_logs)
    _server_stack.callback(server.stop)
    return server.url


@pytest.fixture(scope="session")
def mongo_url(_server_stack: ExitStack, server_logs: Path) -> str:
    if url := os.environ.get("AGORA_MONGO_URL"):
        return url
    if _docker_available():
        from testcontainers.mongodb import MongoDbContainer

        # transactions and change streams need a replica set; a dead writer's transaction is aborted after 5 s,
        # as in production (deploy/README.md) and in the embedded server (agora_devservers.secantus)
        container = MongoDbContainer("mongo:7").with_command(
            "--replSet rs0 --bind_ip_all --setParameter transactionLifetimeLimitSeconds=5")
        container = _server_stack.enter_context(container)
        host, port = container.get_container_host_ip(), container.get_exposed_port(27017)
        container.exec(["mongosh", "--quiet", "--eval", "rs.initiate()"])
        return f"mongodb://{host}:{port}/?replicaSet=rs0&directConnection=true"
    from agora_devservers import start_mongo

    server = start_mongo(log_dir=server_logs)
    _server_stack.callback(server.stop)
    return server.url


@pytest.fixture(scope="session")
def elasticsearch_url(_server_stack: ExitStack, server_logs: Path) -> str:
    if url := os.environ.get("AGORA_ELASTICSEARCH_URL"):
        return url
    if _docker_available():
        from testcontainers.elasticsearch import ElasticSearchContainer

        container = _server_stack.enter_context(
            ElasticSearchContainer("docker.elastic.co/elasticsearch/elasticsearch:8.15.3", mem_limit="1G")
        )
        return container.get_url()
    from agora_devservers import start_elasticsearch

    server = start_elasticsearch(log_dir=server_logs)
    _server_stack.callback(server.stop)
    return server.url


@pytest.fixture(scope="session")
def redis_url(_server_stack: ExitStack, server_logs: Path) -> str:
    if url := os.environ.get("AGORA_REDIS_URL"):
        return url
    if _docker_available():
        from testcontainers.community.redis import RedisContainer

        container = _server_stack.enter_context(RedisContainer("redis:7"))
        return f"redis://{container.get_container_host_ip()}:{container.get_exposed_port(6379)}/0"
    from agora_devservers import start_redis

    server = start_redis(log_dir=server_logs)
    _server_stack.callback(server.stop)
    return server.url


@pytest.fixture
def unique_name() -> str:
    return "t" + uuid.uuid4().hex[:12]


@pytest.fixture
def agora_env(request, unique_name: str) -> dict[str, str]:
    """Settings values (as AGORA_* names without the prefix) isolating one test on the shared servers.

    Only the servers the test module actually needs are started: ask for `kafka_bootstrap` etc. directly,
    or use this fixture, which asks for all of them lazily through `request.getfixturevalue`.
    """
    env = {"topic_prefix": f"{unique_name}.", "mongo_db": unique_name}
    wanted = request.node.get_closest_marker("servers")
    names = wanted.args if wanted else ("kafka", "mongo", "elasticsearch", "redis")
    if "kafka" in names:
        env["kafka_bootstrap"] = request.getfixturevalue("kafka_bootstrap")
        _create_domain_topics(env["kafka_bootstrap"], env["topic_prefix"])
    if "mongo" in names:
        env["mongo_url"] = request.getfixturevalue("mongo_url")
    if "elasticsearch" in names:
        env["elasticsearch_url"] = request.getfixturevalue("elasticsearch_url")
    if "redis" in names:
        env["redis_url"] = request.getfixturevalue("redis_url")
    return env


def _create_domain_topics(bootstrap: str, prefix: str) -> None:
    """The domain topics, as the setup job creates them in production (no Agora client has the broker create a
    topic it names, so a test that publishes before any service started needs them)."""
    from agora_common.kafka import ensure_topics
    from agora_common.topics import Topics

    asyncio.run(ensure_topics(bootstrap, Topics(prefix).all()))


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "servers(*names): the real servers a test needs (kafka, mongo, elasticsearch, redis)")
    config.addinivalue_line("markers", "e2e: drives the whole platform through the gateway")
    # httpx logs every request at INFO: the tests' readiness polls alone filled a failed e2e test's captured
    # output in CI, and the services' own warnings, reported after it, were cut off
    logging.getLogger("httpx").setLevel(logging.WARNING)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items) -> None:
    """With pytest-xdist (`make test` runs two workers), the end-to-end tests share one worker: they start whole
    platforms, and one per worker at a time is what two cores can run without turning waits into timeouts. First
    among the hooks: xdist reads the group marker in its own hook (it then suffixes the test's id with `@e2e`),
    and it ran before this one, so the marker came too late and the e2e tests were spread over both workers."""
    for item in items:
        if "/tests/e2e/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.xdist_group("e2e"))
