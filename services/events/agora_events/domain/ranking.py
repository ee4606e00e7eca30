"""Competition ranking: each submission's score is the mean of its judges' scores; higher is better.

Ties share a place and the next place is skipped (standard competition ranking: 1, 2, 2, 4). Among equal
scores the earlier submission is listed first, but keeps the shared place.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    submission_id: str
    user_id: str
    submitted_order: str  # sortable; earlier first
    scores: tuple[float, ...]


@dataclass(frozen=True)
class Placed:
    submission_id: str
    user_id: str
    place: int
    score: float


def rank(entries: list[Entry]) -> list[Placed]:
    scored = [(round(sum(e.scores) / len(e.scores), 4), e) for e in entries if e.scores]
    scored.sort(key=lambda t: (-t[0], t[1].submitted_order))
    result: list[Placed] = []
    for i, (score, e) in enumerate(scored):
        place = result[-1].place if result and result[-1].score == score else i + 1
        result.append(Placed(e.submission_id, e.user_id, place, score))
    return result
