"""Surveys, the pure part: a survey's questions, checking a member's answers against them, and the counters that
aggregate every response as it comes (so reading the results never reads the responses).

Question kinds: `single_choice` (one option id), `multiple_choice` (one or more distinct option ids, at most
`max_choices`), `scale` (an integer from `min` to `max`) and `free_text` (a string up to `max_length`). Ids are
given by the service: questions `q1`, `q2`, ... and options `o1`, `o2`, ... in the order the operator wrote them.

Counters live in a few shard documents per survey (`SHARDS`): a response increments one shard chosen at random,
in the same transaction as the response, and the results add the shards up. One counter document per survey
would make every concurrent answer conflict on it; with shards, concurrent answers rarely touch the same one, and
a read costs `SHARDS` small documents whatever the number of responses.
"""

from dataclasses import dataclass
from typing import Any, Literal

QuestionKind = Literal["single_choice", "multiple_choice", "scale", "free_text"]
SurveyStatus = Literal["draft", "sending", "open", "closed"]
CHOICE_KINDS = ("single_choice", "multiple_choice")
SHARDS = 8  # counter documents per survey (kept on the survey, so a change here leaves existing surveys right)
SCALE_BOUNDS = (0, 10)  # 0..10 covers Likert scales (1..5, 1..7) and NPS (0..10)
DEFAULT_TEXT_LENGTH = 2000
MAX_TEXT_LENGTH = 5000

Answer = int | str | list[str]


@dataclass(frozen=True)
class Problem:
    question_id: str
    message: str

    def detail(self) -> dict[str, Any]:
        return {"question_id": self.question_id, "location": ["body", "answers", self.question_id],
                "message": self.message}


def build_questions(questions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stored questions: ids given in order, each kind with only its own fields (input already validated)."""
    built = []
    for i, q in enumerate(questions, start=1):
        doc: dict[str, Any] = {"id": f"q{i}", "kind": q["kind"], "text": q["text"], "required": q["required"]}
        if q["kind"] in CHOICE_KINDS:
            doc["options"] = [{"id": f"o{j}", "label": label} for j, label in enumerate(q["options"], start=1)]
            if q["kind"] == "multiple_choice":
                doc["max_choices"] = q.get("max_choices")
        elif q["kind"] == "scale":
            doc.update(min=q["min"], max=q["max"], min_label=q.get("min_label"), max_label=q.get("max_label"))
        else:
            doc["max_length"] = q.get("max_length") or DEFAULT_TEXT_LENGTH
        built.append(doc)
    return built


def _name(q: dict[str, Any]) -> str:
    text = q["text"] if len(q["text"]) <= 60 else q["text"][:57] + "..."
    return f"{q['id']} ({text!r})"


def check_answers(questions: list[dict[str, Any]], answers: dict[str, Any]) -> tuple[dict[str, Answer], list[Problem]]:
    """The answers as stored (unanswered optional questions left out, texts stripped, choices in option order)
    and every problem found, each naming its question. Empty values (null, "", []) mean "not answered"."""
    by_id = {q["id"]: q for q in questions}
    problems = [Problem(qid, f"{qid} is not a question of this survey (its questions: {', '.join(by_id)})")
                for qid in answers if qid not in by_id]
    clean: dict[str, Answer] = {}
    for q in questions:
        value = answers.get(q["id"])
        if isinstance(value, str):
            value = value.strip()
        if value is None or value == "" or value == []:
            if q["required"]:
                problems.append(Problem(q["id"], f"{_name(q)} is required"))
            continue
        result = _check(q, value)
        if isinstance(result, Problem):
            problems.append(result)
        else:
            clean[q["id"]] = result
    return clean, problems


def _check(q: dict[str, Any], value: Any) -> Answer | Problem:
    kind = q["kind"]
    if kind in CHOICE_KINDS:
        ids = [o["id"] for o in q["options"]]
        choose = f"one of {', '.join(ids)}"
        if kind == "single_choice":
            if not isinstance(value, str) or value not in ids:
                return Problem(q["id"], f"{_name(q)}: choose {choose} (one option id)")
            return value
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return Problem(q["id"], f"{_name(q)}: give a list of option ids, each {choose}")
        unknown = [v for v in value if v not in ids]
        if unknown:
            return Problem(q["id"], f"{_name(q)}: {', '.join(unknown[:5])} is not an option; each must be {choose}")
        if len(set(value)) != len(value):
            return Problem(q["id"], f"{_name(q)}: an option is chosen twice")
        if q.get("max_choices") and len(value) > q["max_choices"]:
            return Problem(q["id"], f"{_name(q)}: choose at most {q['max_choices']} options")
        return [i for i in ids if i in value]
    if kind == "scale":
        if type(value) is not int or not q["min"] <= value <= q["max"]:
            return Problem(q["id"], f"{_name(q)}: give a whole number from {q['min']} to {q['max']}")
        return value
    if not isinstance(value, str):
        return Problem(q["id"], f"{_name(q)}: give a text")
    if len(value) > q["max_length"]:
        return Problem(q["id"], f"{_name(q)}: at most {q['max_length']} characters ({len(value)} given)")
    text = value.replace("\r\n", "\n").replace("\r", "\n")
    if any((ch < " " and ch not in "\n\t") or ch == "\x7f" for ch in text):
        return Problem(q["id"], f"{_name(q)}: control characters are not allowed (line breaks and tabs are)")
    return text


# ---- counters ----

def _scale_key(value: int) -> str:
    return f"v{value}"  # a field name, never a number (which a path would read as an array index)


def empty_tally(questions: list[dict[str, Any]]) -> dict[str, Any]:
    """A shard's counters before any response: {"responses": 0, "q": {question id: counters}}."""
    counters: dict[str, Any] = {}
    for q in questions:
        if q["kind"] in CHOICE_KINDS:
            counters[q["id"]] = {"n": 0, "o": {o["id"]: 0 for o in q["options"]}}
        elif q["kind"] == "scale":
            counters[q["id"]] = {"n": 0, "sum": 0, "v": {_scale_key(v): 0 for v in range(q["min"], q["max"] + 1)}}
        else:
            counters[q["id"]] = {"n": 0}
    return {"responses": 0, "q": counters}


def increments(questions: list[dict[str, Any]], answers: dict[str, Answer], *, sign: int = 1) -> dict[str, int]:
    """The `$inc` of one response on a shard (sign=-1 takes it back)."""
    inc = {"responses": sign}
    for q in questions:
        if q["id"] not in answers:
            continue
        value = answers[q["id"]]
        inc[f"q.{q['id']}.n"] = sign
        if q["kind"] == "single_choice":
            inc[f"q.{q['id']}.o.{value}"] = sign
        elif q["kind"] == "multiple_choice":
            assert isinstance(value, list)
            for option in value:
                inc[f"q.{q['id']}.o.{option}"] = sign
        elif q["kind"] == "scale":
            assert isinstance(value, int)
            inc[f"q.{q['id']}.sum"] = sign * value
            inc[f"q.{q['id']}.v.{_scale_key(value)}"] = sign
    return inc


def free_text_increments(questions: list[dict[str, Any]], answers: dict[str, Answer]) -> dict[str, int]:
    """The `$inc` that takes back only a response's free-text answers (they were erased; see account deletion)."""
    return {f"q.{q['id']}.n": -1 for q in questions if q["kind"] == "free_text" and q["id"] in answers}


def results(questions: list[dict[str, Any]], shards: list[dict[str, Any]]) -> dict[str, Any]:
    """The shards added up: {"responses", "questions": [per question: answered, and counts / scale figures]}."""

    def total(path: list[str]) -> int:
        n = 0
        for shard in shards:
            value: Any = shard
            for part in path:
                value = value.get(part) if isinstance(value, dict) else None
            n += value or 0
        return n

    out = []
    for q in questions:
        answered = total(["q", q["id"], "n"])
        item: dict[str, Any] = {"question_id": q["id"], "kind": q["kind"], "text": q["text"],
                                "required": q["required"], "answered": answered, "options": None, "scale": None,
                                "free_text": None}
        if q["kind"] in CHOICE_KINDS:
            item["options"] = []
            for o in q["options"]:
                count = total(["q", q["id"], "o", o["id"]])
                item["options"].append({"option_id": o["id"], "label": o["label"], "count": count,
                                        "share": round(count / answered, 4) if answered else None})
        elif q["kind"] == "scale":
            dist = [{"value": v, "count": total(["q", q["id"], "v", _scale_key(v)])}
                    for v in range(q["min"], q["max"] + 1)]
            item["scale"] = {"min": q["min"], "max": q["max"], "min_label": q.get("min_label"),
                             "max_label": q.get("max_label"),
                             "mean": round(total(["q", q["id"], "sum"]) / answered, 4) if answered else None,
                             "distribution": dist}
        else:
            item["free_text"] = {"answers": answered}
        out.append(item)
    return {"responses": total(["responses"]), "questions": out}
