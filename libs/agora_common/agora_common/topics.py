"""Topic names, in one place. Each service publishes to its own topic; consumers subscribe by name."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Topics:
    prefix: str = "agora."

    @property
    def content(self) -> str:
        return f"{self.prefix}content"

    @property
    def users(self) -> str:
        return f"{self.prefix}users"

    @property
    def events(self) -> str:
        return f"{self.prefix}events"

    @property
    def points(self) -> str:
        return f"{self.prefix}points"

    @property
    def dead_letter(self) -> str:
        return f"{self.prefix}deadletter"

    def for_source(self, source: str) -> str:
        """The topic a service publishes its domain events to."""
        return {"content": self.content, "users": self.users, "events": self.events, "points": self.points}[source]

    def all_domain(self) -> list[str]:
        return [self.content, self.users, self.events, self.points]

    def all(self) -> list[str]:
        return [*self.all_domain(), self.dead_letter]
