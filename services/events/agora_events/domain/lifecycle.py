"""The lifecycle of a community event as an explicit state machine.

    draft ─publish→ published ─open-registration→ registration_open ⇄ registration_closed
    published | registration_open | registration_closed ─start→ live ─end→ ended
    any state except ended and cancelled ─cancel→ cancelled

Every other (state, action) pair is illegal and raises `IllegalTransition` (HTTP 409).
"""

from enum import StrEnum

from agora_common.errors import Conflict


class Status(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    REGISTRATION_OPEN = "registration_open"
    REGISTRATION_CLOSED = "registration_closed"
    LIVE = "live"
    ENDED = "ended"
    CANCELLED = "cancelled"


class Action(StrEnum):
    PUBLISH = "publish"
    OPEN_REGISTRATION = "open-registration"
    CLOSE_REGISTRATION = "close-registration"
    START = "start"
    END = "end"
    CANCEL = "cancel"


TERMINAL = frozenset({Status.ENDED, Status.CANCELLED})

_BEFORE_LIVE = (Status.PUBLISHED, Status.REGISTRATION_OPEN, Status.REGISTRATION_CLOSED)

TRANSITIONS: dict[tuple[Status, Action], Status] = {
    (Status.DRAFT, Action.PUBLISH): Status.PUBLISHED,
    (Status.PUBLISHED, Action.OPEN_REGISTRATION): Status.REGISTRATION_OPEN,
    (Status.REGISTRATION_CLOSED, Action.OPEN_REGISTRATION): Status.REGISTRATION_OPEN,
    (Status.REGISTRATION_OPEN, Action.CLOSE_REGISTRATION): Status.REGISTRATION_CLOSED,
    **{(s, Action.START): Status.LIVE for s in _BEFORE_LIVE},
    (Status.LIVE, Action.END): Status.ENDED,
    **{(s, Action.CANCEL): Status.CANCELLED for s in Status if s not in TERMINAL},
}

# States in which the public (not only the organisers) can see the event.
VISIBLE = frozenset(Status) - {Status.DRAFT}
# States in which a confirmed registration can still be cancelled by the attendee.
CANCELLABLE_REGISTRATION = frozenset({Status.PUBLISHED, Status.REGISTRATION_OPEN, Status.REGISTRATION_CLOSED})
# States in which an organiser can check attendees in.
CHECK_IN_OPEN = frozenset({Status.REGISTRATION_OPEN, Status.REGISTRATION_CLOSED, Status.LIVE})
# States in which the event can still be edited.
EDITABLE = frozenset({Status.DRAFT, Status.PUBLISHED, Status.REGISTRATION_OPEN, Status.REGISTRATION_CLOSED})


class IllegalTransition(Conflict):
    code = "illegal_transition"


def allowed_actions(status: Status) -> list[Action]:
    return [a for (s, a) in TRANSITIONS if s == status]


def transition(status: Status | str, action: Action | str) -> Status:
    """The state after `action`, or IllegalTransition with the actions that are allowed instead."""
    status, action = Status(status), Action(action)
    target = TRANSITIONS.get((status, action))
    if target is None:
        allowed = [a.value for a in allowed_actions(status)]
        hint = f"allowed from {status.value}: {', '.join(allowed)}" if allowed else f"{status.value} is final"
        raise IllegalTransition(
            f"cannot {action.value} an event that is {status.value}; {hint}",
            details={"status": status.value, "action": action.value, "allowed": allowed},
        )
    return target
