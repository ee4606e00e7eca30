"""The chart's setup job (deploy/docker/agora_setup.py) against the real Kafka-protocol broker."""

import importlib.util
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

pytestmark = pytest.mark.servers("kafka")

SETUP = Path(__file__).resolve().parents[2] / "deploy" / "docker" / "agora_setup.py"


def _load_setup():
    spec = importlib.util.spec_from_file_location("agora_setup", SETUP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_creates_every_topic_with_the_configured_partitions_and_is_idempotent(kafka_bootstrap, unique_name,
                                                                                   monkeypatch):
    prefix = f"{unique_name}."  # not agora_env's: that one's topics are made already, as by this job
    monkeypatch.setenv("AGORA_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("AGORA_TOPIC_PREFIX", prefix)
    monkeypatch.setenv("AGORA_TOPIC_PARTITIONS", "2")
    monkeypatch.setenv("AGORA_TOPIC_REPLICATION_FACTOR", "1")
    setup = _load_setup()
    await setup.create_topics()
    await setup.create_topics()  # upgrades run it again

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        ours = sorted(t for t in await admin.list_topics() if t.startswith(prefix))
        described = await admin.describe_topics(ours)
        from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

        configs = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, f"{prefix}content"),
             ConfigResource(ConfigResourceType.TOPIC, f"{prefix}deadletter")])
    finally:
        await admin.close()
    assert ours == sorted(f"{prefix}{n}" for n in ("content", "users", "events", "points", "deadletter"))
    assert {d["topic"]: len(d["partitions"]) for d in described} == dict.fromkeys(ours, 2)
    retention = {}
    for response in configs:
        for resource in response.resources:
            # (error_code, error_message, resource_type, resource_name, config_entries)
            entries = {entry[0]: entry[1] for entry in resource[4]}
            retention[resource[3]] = (entries.get("retention.ms"), entries.get("min.insync.replicas"))
    assert retention == {f"{prefix}content": ("-1", "1"), f"{prefix}deadletter": (str(30 * 24 * 3600 * 1000), "1")}
