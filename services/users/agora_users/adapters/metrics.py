"""Service-specific Prometheus metrics (HTTP and event metrics come from agora_common)."""

from prometheus_client import Counter

LOGINS = Counter("agora_users_logins_total", "Sign-in attempts by outcome", ["outcome"])
REFRESHES = Counter("agora_users_token_refreshes_total", "Refresh attempts by outcome", ["outcome"])
REGISTRATIONS = Counter("agora_users_registrations_total", "Registration requests by outcome (the client is told "
                        "the same for created and existing)", ["outcome"])
MAILS = Counter("agora_users_announcement_mails_total", "Announcement mails by outcome (sent, refused by the server, "
                "no_email, too_old)", ["outcome"])
