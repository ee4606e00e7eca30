"""Shared building blocks of every Agora service."""
