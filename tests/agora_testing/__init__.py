"""Agora's pytest plugin: real servers for integration tests, and small helpers to read events."""
