"""Service-specific Prometheus metrics (HTTP and event metrics come from agora_common)."""

from prometheus_client import Counter

LOGINS = Counter("agora_users_logins_total", "Sign-in attempts by outcome", ["outcome"])
REFRESHES = Counter("agora_users_token_refreshes_total", "Refresh attempts by outcome", ["outcome"])
