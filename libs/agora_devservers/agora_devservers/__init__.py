"""Embedded servers for development and tests (never used in production images)."""

from agora_devservers.servers import (
    EmbeddedServer,
    free_port,
    start_elasticsearch,
    start_kafka,
    start_mongo,
    start_redis,
    wait_for_port,
)

__all__ = ["EmbeddedServer", "free_port", "start_elasticsearch", "start_kafka", "start_mongo", "start_redis", "wait_for_port"]
