from datetime import UTC, datetime, timedelta

import pytest
from agora_common.errors import InvalidInput
from agora_events.domain.exam import Question, check_question, grade, is_late

QS = [
    Question("a", "?", "single", ("x", "y"), frozenset({1})),
    Question("b", "?", "multiple", ("x", "y", "z"), frozenset({0, 2}), points=3),
]


def test_exact_match_grading_and_pass_mark():
    g = grade(QS, {"a": [1], "b": [2, 0]}, pass_mark=100)
    assert g.score == 100.0 and g.passed and g.correct == {"a": True, "b": True}
    g = grade(QS, {"a": [1], "b": [0]}, pass_mark=25)  # no partial credit
    assert g.score == 25.0 and g.passed and g.correct["b"] is False
    assert not grade(QS, {"b": [0, 1, 2]}, pass_mark=1).passed
    assert grade(QS, {}, pass_mark=0).passed  # a zero pass mark is a participation certificate


@pytest.mark.parametrize("answers", [{"zz": [0]}, {"a": [2]}, {"a": [0, 1]}, {"b": [-1]}])
def test_bad_answers(answers):
    with pytest.raises(InvalidInput):
        grade(QS, answers, pass_mark=50)


@pytest.mark.parametrize("q", [
    Question("q", "?", "single", ("x", "y"), frozenset({0, 1})),
    Question("q", "?", "single", ("x", "y"), frozenset({2})),
    Question("q", "?", "multiple", ("x", "y"), frozenset()),
    Question("q", "?", "single", ("x", "x"), frozenset({0})),
])
def test_bad_questions(q):
    with pytest.raises(InvalidInput):
        check_question(q)


def test_deadline_with_grace():
    deadline = datetime(2030, 1, 1, tzinfo=UTC)
    assert not is_late(deadline + timedelta(seconds=1), deadline, 2)
    assert is_late(deadline + timedelta(seconds=3), deadline, 2)
    assert is_late(deadline + timedelta(microseconds=1), deadline, 0)
