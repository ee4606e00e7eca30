"""Events of the points service (topic `points`). Subject = the user id."""

from typing import ClassVar

from agora_common.events.envelope import DomainEvent, register


class PointsEvent(DomainEvent):
    source: ClassVar[str] = "points"


@register
class HonorTitleEarned(PointsEvent):
    user_id: str
    title: str
    threshold: int
    total_points: int
    rules_version: str


@register
class HonorTitleLost(PointsEvent):
    """Reversals took the user's total back under a title's threshold."""

    user_id: str
    title: str
    threshold: int
    total_points: int
    rules_version: str
