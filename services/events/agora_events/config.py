from agora_common.settings import ServiceSettings
from pydantic import Field, SecretStr


class Settings(ServiceSettings):
    service_name: str = "events"
    # Ed25519 private key (PEM, PKCS#8) that signs certificates: AGORA_CERT_SIGNING_KEY. Required in production;
    # elsewhere a key is generated once and kept in the database so every instance signs with the same key.
    cert_signing_key: SecretStr | None = None
    cert_issuer_name: str = "Agora"
    # Public address of the platform (the gateway): used for links in calendars and certificates.
    public_base_url: str = "http://127.0.0.1:8080"
    # Late exam submissions within this many seconds after the deadline still count (network latency).
    exam_grace_seconds: float = Field(default=2.0, ge=0)
    # Consume the users topic (deleted accounts give back their places). Off in tests that do not need it.
    consume_users: bool = True
