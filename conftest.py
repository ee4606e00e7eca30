# Registers Agora's integration fixtures (real Kafka, MongoDB and Elasticsearch servers) for every test.
pytest_plugins = ["agora_testing.plugin"]
