"""End-to-end fixtures: the whole platform (every service as its own process, the nginx gateway) on free
ports, over the session's real Kafka, MongoDB and Elasticsearch servers."""

import uuid
from collections.abc import Iterator

import httpx
import pytest

from agora_devservers.stack import Stack


@pytest.fixture(scope="session")
def stack(kafka_bootstrap, mongo_url, elasticsearch_url, tmp_path_factory) -> Iterator[Stack]:
    name = "e2e" + uuid.uuid4().hex[:8]
    platform = Stack.on_free_ports(
        tmp_path_factory.mktemp("stack"),
        external={"kafka": kafka_bootstrap, "mongo": mongo_url, "elasticsearch": elasticsearch_url},
        topic_prefix=f"{name}.",
        db_prefix=f"{name}_",
        with_prometheus=False,
        say=lambda message: None,
    )
    platform.start()
    try:
        yield platform
    finally:
        platform.stop()


@pytest.fixture
def gateway(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.gateway_url, timeout=30) as client:
        yield client
