"""Every Kafka client takes the brokers and the way to reach them (TLS, SASL) from one KafkaConnection, made from
the AGORA_KAFKA_* settings."""

import ssl

import pytest
from agora_common.kafka import EventPublisher, KafkaConnection, kafka_connection
from agora_common.settings import ServiceSettings
from pydantic import ValidationError


def test_plaintext_by_default_and_from_a_bare_address():
    options = kafka_connection("b1:9092,b2:9092").client_options()
    assert options == {"bootstrap_servers": "b1:9092,b2:9092", "security_protocol": "PLAINTEXT"}
    assert ServiceSettings(kafka_bootstrap="b:9092").kafka == KafkaConnection("b:9092")


def test_sasl_over_tls_from_settings():
    settings = ServiceSettings(kafka_bootstrap="kafka:9093", kafka_security_protocol="SASL_SSL",
                               kafka_sasl_mechanism="SCRAM-SHA-512", kafka_sasl_username="agora",
                               kafka_sasl_password="s3cret")
    options = settings.kafka.client_options()
    assert options["security_protocol"] == "SASL_SSL" and isinstance(options["ssl_context"], ssl.SSLContext)
    assert options["ssl_context"].verify_mode == ssl.CERT_REQUIRED
    assert (options["sasl_mechanism"], options["sasl_plain_username"], options["sasl_plain_password"]) == (
        "SCRAM-SHA-512", "agora", "s3cret")
    assert "s3cret" not in repr(settings.kafka)  # the password stays out of logs
    publisher = EventPublisher(settings.kafka)  # the clients get the same options
    assert publisher._options["sasl_plain_username"] == "agora" and publisher._options["client_id"] == "agora"


def test_tls_with_a_private_ca_file(tmp_path):
    missing = KafkaConnection("kafka:9093", "SSL", ssl_cafile=str(tmp_path / "nope.crt"))
    with pytest.raises(FileNotFoundError):  # a wrong path fails at start-up, not at the first message
        missing.client_options()


def test_sasl_without_credentials_is_refused_at_start_up():
    with pytest.raises(ValidationError, match="AGORA_KAFKA_SASL_MECHANISM"):
        ServiceSettings(kafka_security_protocol="SASL_PLAINTEXT")
    with pytest.raises(ValueError, match="needs a SASL mechanism"):
        KafkaConnection("k:9092", "SASL_PLAINTEXT").client_options()
