"""Expert discovery, the pure part: what one answer contributes to its author's standing per tag and per SIG, and
how a change of that answer changes the per-member aggregates. No I/O.

An answer *counts* while it, its question and its author's account exist and are visible (not deleted, not hidden,
author not anonymised). A counted answer contributes to every scope it belongs to (`tag:<tag>` for each of its
question's tags, `sig:<id>` for the question's SIG and for every SIG whose tags it carries):

- 1 answer;
- 1 accepted answer if the asker accepted it (an asker accepting their own answer counts no acceptance);
- its net vote score;
- its time to first answer, if it was the question's first answer: the first answer posted by someone other than
  the asker, in creation order, whether or not it still counts (a deleted first answer takes its timing with it; the
  next answer does not become the first). The time is answer created_at - question created_at, in whole seconds.

Each answer keeps what it last contributed (`Contribution`), so a change is applied as the difference between the
old and the new contribution: idempotent, and the same code path for votes, acceptances, deletions, moderation,
re-tagging, account deletions and the back-fill of a new SIG.
"""

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

TAG = "tag:"
SIG = "sig:"


def tag_scope(tag: str) -> str:
    return TAG + tag


def sig_scope(sig_id: str) -> str:
    return SIG + sig_id


def row_id(scope: str, user_id: str) -> str:
    return f"{scope}|{user_id}"


@dataclass(frozen=True)
class Contribution:
    user_id: str
    scopes: list[str]
    accepted: int
    score: int
    first_seconds: int | None
    at: datetime  # when the answer was posted

    def as_doc(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_doc(cls, doc: dict[str, Any] | None) -> "Contribution | None":
        return cls(**doc) if doc else None


def visible(post: dict | None) -> bool:
    return post is not None and not post.get("deleted") and not post.get("hidden")


def first_answer_seconds(question: dict, answer: dict) -> int:
    return max(int((answer["created_at"] - question["created_at"]).total_seconds()), 0)


def contribution(answer: dict, question: dict | None, sig_ids: list[str]) -> Contribution | None:
    """What `answer` contributes now (None: nothing). `sig_ids`: the SIGs whose tags the answer carries."""
    author = answer.get("author_id")
    if author is None or not visible(answer) or question is None or not visible(question):
        return None
    self_answer = question.get("author_id") == author
    scopes = [tag_scope(t) for t in answer.get("tags", [])]
    sigs = {*sig_ids, *([answer["sig_id"]] if answer.get("sig_id") else [])}
    scopes += [sig_scope(s) for s in sorted(sigs)]
    return Contribution(
        user_id=author, scopes=scopes, accepted=int(bool(answer.get("accepted")) and not self_answer),
        score=int(answer.get("score", 0)), first_seconds=answer.get("first_answer_seconds"), at=answer["created_at"],
    )


@dataclass
class RowChange:
    """What happens to one member's aggregate in one scope."""

    answers: int = 0
    accepted: int = 0
    score: int = 0
    first_removed: list[int] = field(default_factory=list)
    first_added: list[int] = field(default_factory=list)
    active_at: datetime | None = None

    @property
    def empty(self) -> bool:
        return not (self.answers or self.accepted or self.score or self.first_removed or self.first_added
                    or self.active_at)


def changes(old: Contribution | None, new: Contribution | None) -> dict[tuple[str, str], RowChange]:
    """(user id, scope) -> the change of that aggregate when an answer's contribution goes from `old` to `new`."""
    out: dict[tuple[str, str], RowChange] = {}
    if old == new:
        return out
    for sign, c in ((-1, old), (1, new)):
        if c is None:
            continue
        for scope in c.scopes:
            change = out.setdefault((c.user_id, scope), RowChange())
            change.answers += sign
            change.accepted += sign * c.accepted
            change.score += sign * c.score
            if c.first_seconds is not None:
                (change.first_added if sign > 0 else change.first_removed).append(c.first_seconds)
            if sign > 0:
                change.active_at = c.at
    counted_before = {(old.user_id, s) for s in old.scopes} if old else set()
    for key, change in list(out.items()):
        # the same first-answer time removed and added again (a vote, an acceptance) is no change
        for s in list(change.first_added):
            if s in change.first_removed:
                change.first_removed.remove(s)
                change.first_added.remove(s)
        if key in counted_before:
            change.active_at = None  # the row already counts this answer: its time is in last_active_at
        if change.empty:
            del out[key]
    return out


def apply_first(values: list[int], change: RowChange) -> list[int]:
    """A row's sorted first-answer times after `change`."""
    out = list(values)
    for s in change.first_removed:
        if s in out:
            out.remove(s)
    return sorted(out + change.first_added)


def median(values: list[int]) -> float | None:
    """Median of sorted values (the mean of the two middle ones for an even count); None for none."""
    if not values:
        return None
    mid = len(values) // 2
    return float(values[mid]) if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
