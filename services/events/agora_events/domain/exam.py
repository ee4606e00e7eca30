"""Exams of trainings: a question bank of choice questions, automatic grading and the pass mark.

A question is answered correctly when the chosen options are exactly the correct ones (no partial credit
for multiple-choice questions). The score is the share of points earned, in percent, rounded to 2 places.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from agora_common.errors import InvalidInput


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    kind: str  # "single" | "multiple"
    options: tuple[str, ...]
    correct: frozenset[int]
    points: int = 1

    @classmethod
    def from_doc(cls, d: dict) -> "Question":
        return cls(d["id"], d["text"], d["kind"], tuple(d["options"]), frozenset(d["correct"]), d.get("points", 1))


def check_question(q: Question) -> None:
    bad = [i for i in q.correct if not 0 <= i < len(q.options)]
    if bad:
        raise InvalidInput(f"question {q.id}: correct option index out of range: {bad}", details={"question": q.id})
    if q.kind == "single" and len(q.correct) != 1:
        raise InvalidInput(f"question {q.id}: a single-choice question has exactly one correct option",
                           details={"question": q.id})
    if q.kind == "multiple" and not q.correct:
        raise InvalidInput(f"question {q.id}: needs at least one correct option", details={"question": q.id})
    if len(set(q.options)) != len(q.options):
        raise InvalidInput(f"question {q.id}: options must be distinct", details={"question": q.id})


def check_answers(questions: list[Question], answers: dict[str, list[int]]) -> None:
    """Answers may skip questions, but must not name unknown questions or options."""
    by_id = {q.id: q for q in questions}
    unknown = sorted(set(answers) - set(by_id))
    if unknown:
        raise InvalidInput(f"answers name questions not in this attempt: {unknown}", details={"questions": unknown})
    for qid, chosen in answers.items():
        q = by_id[qid]
        if any(not 0 <= i < len(q.options) for i in chosen):
            raise InvalidInput(f"question {qid}: option index out of range", details={"question": qid})
        if q.kind == "single" and len(chosen) > 1:
            raise InvalidInput(f"question {qid}: choose one option only", details={"question": qid})


@dataclass(frozen=True)
class Grade:
    score: float
    passed: bool
    correct: dict[str, bool]


def grade(questions: list[Question], answers: dict[str, list[int]], pass_mark: float) -> Grade:
    check_answers(questions, answers)
    total = sum(q.points for q in questions)
    correct = {q.id: frozenset(answers.get(q.id, ())) == q.correct for q in questions}
    earned = sum(q.points for q in questions if correct[q.id])
    score = round(100.0 * earned / total, 2) if total else 0.0
    return Grade(score=score, passed=score >= pass_mark, correct=correct)


def is_late(now: datetime, deadline: datetime, grace_seconds: float) -> bool:
    """The deadline is the server's; a little grace covers the network between the click and the server."""
    return now > deadline + timedelta(seconds=grace_seconds)
