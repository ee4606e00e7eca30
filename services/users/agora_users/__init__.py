"""Agora users service."""
