"""Settings common to every service, read from AGORA_* environment variables."""

from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Base settings; each service subclasses it and adds its own fields."""

    model_config = SettingsConfigDict(env_prefix="AGORA_", env_file=".env", extra="ignore")

    service_name: str = "agora"
    environment: str = "development"  # a label in the logs (development, staging, production)
    log_level: str = "INFO"  # JSON logs on stderr: DEBUG, INFO, WARNING, ERROR

    # Kafka bootstrap servers, host:port[,host:port...]
    kafka_bootstrap: str = "127.0.0.1:9092"
    # How to reach them: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL; with SASL, a mechanism (PLAIN, SCRAM-SHA-256,
    # SCRAM-SHA-512), user and password; with TLS, the CA that signed the brokers' certificates (default: the
    # system's) and, for brokers that authenticate clients by certificate, a client certificate and key (files).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = None
    kafka_ssl_certfile: str | None = None
    kafka_ssl_keyfile: str | None = None
    # Every topic name starts with this prefix: lets tests and tenants share one broker.
    topic_prefix: str = "agora."
    topic_partitions: int = 3  # partitions of a topic this service creates (development; production: the setup job)
    # Development creates missing topics; production leaves that to the setup job (topics as code, with their
    # replication, min.insync.replicas and retention) and waits for them (the chart sets it false).
    create_topics: bool = True
    # How often the broker is asked how far each of the service's consumer groups is behind (committed offsets vs
    # the partitions' ends): agora_consumer_lag_messages / agora_consumer_lag_seconds (agora_common.consumer_lag).
    consumer_lag_interval_s: float = Field(default=15.0, gt=0)

    # A replica set (transactions need one). TLS and credentials go in the URL, as MongoDB defines it:
    # mongodb://user:password@host/?replicaSet=rs0&tls=true&tlsCAFile=/etc/agora/mongo-ca/ca.crt
    mongo_url: str = "mongodb://127.0.0.1:27017/?replicaSet=secantus"
    mongo_db: str = "agora"  # the service's own database (make run and the chart: `<prefix><service>`)
    # The unit of work (agora_common.uow): a change that still conflicts after this many runs or this long gets
    # 503 `contention`; the limit stays well under the gateway's 30 s timeout so the client hears an answer.
    transaction_max_attempts: int = Field(default=40, ge=1)
    transaction_time_limit_s: float = Field(default=10.0, gt=0)
    # The whole lifespan shutdown (consumers, relay, publisher, clients) ends within this; the chart's grace
    # period counts on it (values: shutdown.lifespanSeconds).
    shutdown_budget_s: float = Field(default=10.0, gt=0)
    # The outbox relay: how often it looks for unsent events when not woken, and its pause after a failure.
    outbox_poll_interval: float = Field(default=0.5, gt=0)
    outbox_retry_delay: float = Field(default=1.0, gt=0)

    # The search service's Elasticsearch 8; credentials in the URL (https://user:password@host:9200), and for a
    # private CA (e.g. ECK's self-signed one) the CA certificate's file.
    elasticsearch_url: str = "http://127.0.0.1:9200"
    elasticsearch_ca_certs: str | None = None

    # Access and refresh tokens (JWT): every service verifies them with the same secret; set a long random one
    # in production (the chart generates it). The lifetimes of the two kinds of token.
    jwt_secret: SecretStr = SecretStr("dev-only-change-me-0123456789abcdef")
    jwt_algorithm: str = "HS256"
    jwt_issuer: str = "agora"
    access_token_ttl_seconds: int = Field(default=15 * 60, ge=30)
    refresh_token_ttl_seconds: int = Field(default=14 * 24 * 3600, ge=60)

    @model_validator(mode="after")
    def _kafka_sasl_complete(self) -> "ServiceSettings":
        if self.kafka_security_protocol.startswith("SASL") and not (
                self.kafka_sasl_mechanism and self.kafka_sasl_username and self.kafka_sasl_password):
            raise ValueError("AGORA_KAFKA_SECURITY_PROTOCOL=SASL_* needs AGORA_KAFKA_SASL_MECHANISM, "
                             "AGORA_KAFKA_SASL_USERNAME and AGORA_KAFKA_SASL_PASSWORD")
        return self

    @property
    def kafka(self):
        """The brokers and how to reach them, for every Kafka client of the service."""
        from agora_common.kafka import KafkaConnection  # settings stay importable without the Kafka client

        password = self.kafka_sasl_password.get_secret_value() if self.kafka_sasl_password else None
        return KafkaConnection(self.kafka_bootstrap, self.kafka_security_protocol, self.kafka_sasl_mechanism,
                               self.kafka_sasl_username, password, self.kafka_ssl_cafile, self.kafka_ssl_certfile,
                               self.kafka_ssl_keyfile)
