"""The one way a consumer says which events it reacts to, and how: a registry of handlers by event type.

    members = EventHandlers("content.members")

    @members.on(UserSuspended, UserReinstated)
    async def status_changed(event, envelope, *, store): ...

    await members.dispatch(envelope, store=store)    # False: this consumer has no handler for that type

A handler takes the typed payload and its envelope (plus keyword dependencies); a registry may hold pure
functions too (`handler_for` returns one to call). Every registry is listed in `EventHandlers.registries`, so
the "who publishes / who consumes what" table in docs/events.md is generated from the code
(`make docs`, `python -m agora_devservers.event_table`) and a test keeps it current.
"""

from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypeVar

from agora_common.events.envelope import DomainEvent, Envelope

H = TypeVar("H", bound=Callable[..., Any])


class EventHandlers(Generic[H]):
    registries: ClassVar[dict[str, "EventHandlers[Any]"]] = {}

    def __init__(self, consumer: str) -> None:
        """`consumer` names the consumer as `<service>.<name>`, like its consumer group."""
        self.consumer = consumer
        self._by_type: dict[str, H] = {}
        EventHandlers.registries[consumer] = self

    def on(self, *types: type[DomainEvent]) -> Callable[[H], H]:
        """Decorator: `handler` handles these event types (each type has at most one handler here)."""

        def register(handler: H) -> H:
            for event_type in types:
                name = event_type.event_type
                if name in self._by_type:
                    raise RuntimeError(f"{self.consumer} already handles {name}")
                self._by_type[name] = handler
            return handler

        return register

    def handler_for(self, event_type: str) -> H | None:
        return self._by_type.get(event_type)

    def handles(self, event_type: str) -> bool:
        return event_type in self._by_type

    @property
    def event_types(self) -> list[str]:
        return sorted(self._by_type)

    async def dispatch(self, envelope: Envelope, **deps: Any) -> bool:
        """Run the handler of this envelope's type, if there is one; returns whether there was."""
        handler = self._by_type.get(envelope.type)
        if handler is None:
            return False
        await handler(envelope.payload(), envelope, **deps)
        return True
