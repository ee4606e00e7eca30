"""Event envelope and every typed domain event, in one place: the contract between producers and consumers.

Importing this package registers every event type.
"""

from agora_common.events import community, content, points, users  # noqa: F401  (registers the types)
from agora_common.events.envelope import EVENT_TYPES, BadEvent, DomainEvent, Envelope, register, upcaster

__all__ = ["EVENT_TYPES", "BadEvent", "DomainEvent", "Envelope", "register", "upcaster"]
