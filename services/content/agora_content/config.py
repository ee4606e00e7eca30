from agora_common.settings import ServiceSettings
from pydantic import Field


class Settings(ServiceSettings):
    service_name: str = "content"
    # Largest request body accepted (bytes); bigger ones get 413 before any parsing.
    max_request_bytes: int = Field(default=256 * 1024, ge=1024)
    # How long an Idempotency-Key is remembered.
    idempotency_ttl_seconds: int = Field(default=24 * 3600, ge=60)
    # Consume the users topic (suspensions, deletions). Off only in tests that do not need it.
    consume_users: bool = True
    # Consume the events topic (which online Q&A sessions take questions). Off only in tests that do not need it.
    consume_events: bool = True
