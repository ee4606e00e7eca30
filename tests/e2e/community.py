"""A community's week, driven through the gateway as clients would, deterministically seeded.

`CommunityWeek` plays the operator and the members, phase after phase (actions inside a phase run
concurrently), and records what it did: every scoring action as an `expected_points.Fact`, every post that
must be searchable, every member's contributions. The scenario and fault tests then compare what the platform
shows with what these records imply.
"""

import random
import string
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from e2e.expected_points import Fact
from e2e.helpers import Client

# Spending limit on capped points per member before the events phase (checks-ins and a talk add at most 55):
# nobody but the "star" reaches the daily cap, so which award the cap cuts never depends on timing.
CAPPED_BUDGET = 140

SIGS = [
    ("Installation & Deployment", ["kubernetes", "install"]),
    ("Observability", ["prometheus", "monitoring"]),
    ("DevOps", ["devops", "ci-cd"]),
]
EXTRA_TAGS = ["storage", "networking", "security", "performance", "upgrade"]
EN_TOPICS = ["persistent storage for stateful sets", "ingress timeouts under load", "alert rules that fire too often",
             "rolling upgrades without downtime", "pipelines that deploy to many clusters", "etcd disk latency",
             "network policies between namespaces", "scraping metrics from short-lived jobs"]
ZH_TOPICS = ["如何配置持久化存储", "集群升级后网络不通", "告警规则误报太多怎么办", "流水线如何部署到多个集群",
             "离线环境如何安装镜像仓库", "监控指标采集失败", "多租户的资源配额怎么设置", "证书过期导致服务不可用"]
EXAM = [  # (text, options, correct option indexes)
    ("Which object keeps a pod's identity across restarts?", ["Deployment", "StatefulSet", "Job"], [1]),
    ("Which port does the Kubernetes API server listen on by default?", ["443", "6443", "8080"], [1]),
    ("Which of these are Prometheus metric types?", ["counter", "gauge", "ledger"], [0, 1]),
    ("What does a liveness probe failure cause?", ["a restart", "a reschedule", "nothing"], [0]),
]


@dataclass
class Post:
    id: str
    type: str  # question | answer | article
    author: str
    tags: list[str]
    sig_id: str | None
    code: str = ""  # a unique word in the title: searching it must find the post
    question_id: str | None = None
    chinese: bool = False


@dataclass
class Member:
    client: Client
    name: str
    ordinary: bool = False  # signs up and does nothing else

    @property
    def id(self) -> str:
        return self.client.id


@dataclass
class Registration:
    member: "Member"
    id: str
    status: str
    code: str | None


# The expected figures (expected_points.py) assume every fact on one UTC day and in one ISO week (daily cap,
# weekly and monthly boards); a week played across UTC midnight breaks that assumption, not the platform: it failed
# once with a member's votes on both sides of midnight, so no cap cut where one was expected.
LONGEST_WEEK = timedelta(minutes=5)  # a week takes 1-2 minutes here; the tests allow 15


def _not_across_midnight() -> None:
    """Wait for the next UTC day if the week could not finish before midnight."""
    now = datetime.now(UTC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    if midnight - now < LONGEST_WEEK:
        time.sleep((midnight - now).total_seconds() + 1)


class CommunityWeek:
    def __init__(self, gateway_url: str, *, operator_email: str, operator_password: str, members: int = 150,
                 seed: int = 2026, workers: int = 8, say: Callable[[str], None] = lambda m: None) -> None:
        self.url = gateway_url
        self.n_members = members
        self.rng = random.Random(seed)
        self.workers = workers
        self.say = say
        self.operator = Client(gateway_url, 0).login(operator_email, operator_password)
        self.members: list[Member] = []
        self.sigs: list[dict] = []
        self.posts: dict[str, Post] = {}
        self.facts: list[Fact] = []
        self.phase = 0
        self.votes: set[tuple[str, str]] = set()  # (voter, post)
        self.upvote_facts: list[Fact] = []
        self.capped: Counter = Counter()  # planned capped points per member
        self.contributions: Counter = Counter()  # questions, answers, published articles, talks
        self.evidence: dict[str, set[str]] = defaultdict(set)  # contributor evidence per member
        self.certificates: list[str] = []
        self.events: dict[str, dict] = {}
        self.accepted: dict[str, str] = {}  # question -> answer
        self.writes = 0
        self._lock = threading.Lock()
        self._codes: set[str] = set()

    # --- plumbing ------------------------------------------------------------------------------------------
    def parallel(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        with ThreadPoolExecutor(self.workers) as pool:
            return list(pool.map(fn, list(items)))

    def record(self, type_: str, **data: Any) -> Fact:
        fact = Fact(type_, data, self.phase)
        with self._lock:
            self.facts.append(fact)
        return fact

    def next_phase(self) -> None:
        self.phase += 1

    def _code(self) -> str:
        while True:
            code = "zx" + "".join(self.rng.choices(string.ascii_lowercase + string.digits, k=6))
            if code not in self._codes:
                self._codes.add(code)
                return code

    def active(self) -> list[Member]:
        return [m for m in self.members if not m.ordinary]

    def _count_write(self) -> None:
        with self._lock:
            self.writes += 1

    # --- the week ------------------------------------------------------------------------------------------
    def run(self, between_phases: Callable[[int], None] = lambda phase: None) -> None:
        _not_across_midnight()
        for step in (self.setup, self.content, self.reactions, self.community_events, self.second_thoughts):
            step()
            between_phases(self.phase)
            self.next_phase()

    def setup(self) -> None:
        """Phase 0: the operator creates the SIGs; members sign up and join SIGs."""
        for name, tags in SIGS:
            self.sigs.append(self.operator.call("POST", "/api/v1/users/sigs", json={
                "name": name, "tags": tags, "description": f"The {name} special interest group"}))
        names = [(f"Member {i:03d}" if i % 4 else f"成员 {i:03d}") for i in range(self.n_members)]
        run_id = self.rng.getrandbits(32)

        def sign_up(i: int) -> Member:
            client = Client(self.url, i + 1).register(names[i], f"member{i:03d}.{run_id:08x}@example.org")
            return Member(client, names[i], ordinary=i >= self.n_members - max(3, self.n_members // 12))

        self.members = self.parallel(sign_up, range(self.n_members))
        self.star = self.members[0]  # answers a lot of questions; the only one who reaches the daily cap
        joins = [(m, sig) for m in self.active() for sig in self.rng.sample(self.sigs, self.rng.choice([1, 1, 2]))]
        self.parallel(lambda join: join[0].client.call("POST", f"/api/v1/users/sigs/{join[1]['id']}/members"), joins)
        self.say(f"setup: {len(self.members)} members, {len(joins)} SIG joins")

    def _new_question(self, asker: Member, sig: dict, tags: list[str], chinese: bool) -> dict:
        code = self._code()
        if chinese:
            title = f"{self.rng.choice(ZH_TOPICS)}？编号 {code}"
            body = f"我们的集群遇到了问题：{self.rng.choice(ZH_TOPICS)}。请问有什么建议？"
        else:
            title = f"How to handle {self.rng.choice(EN_TOPICS)}? ref {code}"
            body = f"We run a production cluster and see problems with {self.rng.choice(EN_TOPICS)}. Any advice?"
        return {"asker": asker, "code": code, "chinese": chinese,
                "json": {"title": title, "body": body, "tags": tags, "sig_id": sig["id"]}}

    def content(self) -> None:
        """Phase 1: questions (a third in Chinese) and answers. No points yet."""
        active = self.active()
        others = active[1:]
        plans = []
        star_sig = self.sigs[0]
        for _ in range(24):  # the star's questions: one SIG, one tag set, so the cap cuts them alike
            plans.append(self._new_question(self.rng.choice(others), star_sig, list(SIGS[0][1]), False))
        for _ in range(int(self.n_members * 0.5)):
            sig_i = self.rng.randrange(len(self.sigs))
            tags = list(SIGS[sig_i][1][: self.rng.choice([1, 2])]) + self.rng.sample(EXTRA_TAGS, self.rng.choice([0, 1]))
            plans.append(self._new_question(self.rng.choice(others), self.sigs[sig_i], tags, self.rng.random() < 1 / 3))

        def ask(plan: dict) -> Post:
            q = plan["asker"].client.call("POST", "/api/v1/content/questions", json=plan["json"])
            self._count_write()
            return Post(q["id"], "question", plan["asker"].id, q["tags"], q.get("sig_id"), plan["code"],
                        chinese=plan["chinese"])

        questions = self.parallel(ask, plans)
        self.star_questions = questions[:24]
        for q in questions:
            self.posts[q.id] = q
            self.contributions[q.author] += 1
        answer_plans = [(q, self.star) for q in self.star_questions]
        for q in questions[24:]:
            candidates = [m for m in others if m.id != q.author]
            answer_plans += [(q, m) for m in self.rng.sample(candidates, self.rng.choice([0, 1, 1, 2, 2, 3]))]

        def answer(plan: tuple[Post, Member]) -> Post:
            q, m = plan
            text = ("建议先检查存储类和节点日志，然后逐步排查。" if q.chinese
                    else "Check the storage class first, then the node logs; upgrade one node at a time.")
            a = m.client.call("POST", f"/api/v1/content/questions/{q.id}/answers", json={"body": text})
            self._count_write()
            return Post(a["id"], "answer", m.id, q.tags, q.sig_id, question_id=q.id)

        for a in self.parallel(answer, answer_plans):
            self.posts[a.id] = a
            self.contributions[a.author] += 1
        self.say(f"content: {len(questions)} questions, {len(answer_plans)} answers")

    def _member(self, user_id: str) -> Member:
        return next(m for m in self.members if m.id == user_id)

    def reactions(self) -> None:
        """Phase 2: articles published, acceptances, upvotes."""
        active = self.active()
        others = active[1:]
        article_authors = self.rng.sample(others, max(3, self.n_members // 10))

        def write_article(author: Member) -> Post:
            chinese = self.rng.random() < 1 / 3
            code = self._code()
            sig_i = self.rng.randrange(len(self.sigs))
            title = (f"实践分享：{self.rng.choice(ZH_TOPICS)} {code}" if chinese
                     else f"Field notes on {self.rng.choice(EN_TOPICS)} {code}")
            body = ("本文总结了我们在生产环境中的经验和教训。" if chinese
                    else "What we learned running this in production, step by step, with the mistakes we made.")
            art = author.client.call("POST", "/api/v1/content/articles", json={
                "title": title, "body": body, "tags": list(SIGS[sig_i][1]), "sig_id": self.sigs[sig_i]["id"]})
            author.client.call("POST", f"/api/v1/content/articles/{art['id']}/publish")
            self._count_write()
            return Post(art["id"], "article", author.id, art["tags"], art.get("sig_id"), code, chinese=chinese)

        for art in self.parallel(write_article, article_authors):
            self.posts[art.id] = art
            self.contributions[art.author] += 1
            self.evidence[art.author].add(art.id)
            self.capped[art.author] += 20
            self.record("ArticlePublished", author_id=art.author, tags=art.tags, sig_id=art.sig_id)

        # acceptances: every star question accepts the star's answer; others with probability 0.6
        answers_by_q: dict[str, list[Post]] = defaultdict(list)
        for p in self.posts.values():
            if p.type == "answer":
                answers_by_q[p.question_id].append(p)
        accepts = []
        for q in (p for p in list(self.posts.values()) if p.type == "question"):
            candidates = answers_by_q.get(q.id)
            if not candidates or (q not in self.star_questions and self.rng.random() > 0.6):
                continue
            if self.capped[q.author] + 2 > CAPPED_BUDGET:
                continue
            a = candidates[0] if q in self.star_questions else self.rng.choice(candidates)
            self.capped[q.author] += 2
            accepts.append((q, a))

        def accept(plan: tuple[Post, Post]) -> None:
            q, a = plan
            self._member(q.author).client.call("POST", f"/api/v1/content/questions/{q.id}/accept",
                                               json={"answer_id": a.id})
            self._count_write()

        self.parallel(accept, accepts)
        for q, a in accepts:
            self.accepted[q.id] = a.id
            self.evidence[a.author].add(a.id)
            self.record("AnswerAccepted", author_id=a.author, asker_id=q.author, tags=a.tags, sig_id=a.sig_id)

        # upvotes: the star gets more than the cap allows; everyone else stays within the budget
        worth = {"question": 5, "answer": 10, "article": 5}
        plans = []
        star_answers = [p for p in self.posts.values() if p.type == "answer" and p.author == self.star.id]
        for a in star_answers[:10]:
            plans += [(v, a) for v in self.rng.sample(others, 3)]
        for p in self.posts.values():
            if p.author == self.star.id:
                continue
            for voter in self.rng.sample(active, self.rng.choice([0, 1, 2, 3, 4])):
                if voter.id != p.author and self.capped[p.author] + worth[p.type] <= CAPPED_BUDGET:
                    self.capped[p.author] += worth[p.type]
                    plans.append((voter, p))
        plans = [(v, p) for v, p in plans if (v.id, p.id) not in self.votes and not self.votes.add((v.id, p.id))]

        def upvote(plan: tuple[Member, Post]) -> None:
            voter, p = plan
            voter.client.call("PUT", f"/api/v1/content/posts/{p.id}/vote", json={"value": 1})
            self._count_write()

        self.rng.shuffle(plans)
        self.parallel(upvote, plans)
        for voter, p in plans:
            fact = self.record("PostVoted", post_id=p.id, post_type=p.type, value=1, author_id=p.author,
                               voter_id=voter.id, tags=p.tags, sig_id=p.sig_id)
            self.upvote_facts.append(fact)
        self.say(f"reactions: {len(article_authors)} articles, {len(accepts)} accepted, {len(plans)} upvotes")

    # --- community events ----------------------------------------------------------------------------------
    def _event_action(self, event_id: str, action: str) -> dict:
        return self.operator.call("POST", f"/api/v1/events/{event_id}/{action}")

    def _register(self, event_id: str, members: list[Member]) -> list[Registration]:
        def one(m: Member) -> Registration:
            r = m.client.call("POST", f"/api/v1/events/{event_id}/registrations")
            self._count_write()
            return Registration(m, r["id"], r["status"], r.get("checkin_code"))
        return self.parallel(one, members)

    def _check_in(self, event: dict, regs: list[Registration]) -> None:
        def one(reg: Registration) -> None:
            self.operator.call("POST", f"/api/v1/events/{event['id']}/checkins", json={"code": reg.code})
            self._count_write()
        self.parallel(one, regs)
        for reg in regs:
            self.record("AttendeeCheckedIn", user_id=reg.member.id, event_id=event["id"], tags=event["tags"],
                        sig_id=event.get("sig_id"))

    def community_events(self) -> None:
        """Phase 3: a weekly live-stream series, a meetup with limited places, a training with an exam."""
        soon = datetime.now(UTC) + timedelta(days=1)
        pool = list(self.active()[1:])
        # the weekly live stream: four occurrences; members register for the first one and most attend
        series = self.operator.call("POST", "/api/v1/events/series", json={
            "title": "Cloud-native weekly", "kind": "live_stream", "sig_id": self.sigs[1]["id"],
            "tags": ["monitoring", "live"], "first_starts_at": soon.isoformat(), "duration_minutes": 60,
            "occurrences": 4, "interval_weeks": 1, "stream_url": "https://live.example.org/weekly"})
        self.operator.call("POST", f"/api/v1/events/series/{series['id']}/publish")
        first = series["event_ids"][0]
        live = self._event_action(first, "open-registration")
        self.events["live"] = live
        regs = self._register(first, self.rng.sample(pool, max(4, self.n_members // 5)))
        assert all(r.status == "confirmed" for r in regs)
        self._event_action(first, "start")
        attended = [r for r in regs if self.rng.random() < 0.7]
        self._check_in(live, attended)
        self._event_action(first, "end")
        stats = self.operator.call("GET", f"/api/v1/events/series/{series['id']}/stats")
        assert (stats["occurrences"], stats["ended_occurrences"], stats["confirmed"], stats["checked_in"]) == (
            4, 1, len(regs), len(attended)), stats
        assert abs(stats["no_show_rate"] - (1 - len(attended) / len(regs))) < 1e-3, stats  # rounded to 4 places

        # the meetup: 8 places, 12 sign up, 3 cancel, the first 3 waitlisted are promoted; a member speaks
        meetup = self.operator.call("POST", "/api/v1/events", json={
            "kind": "meetup", "title": "Shanghai meetup: platform engineering", "starts_at": soon.isoformat(),
            "city": "Shanghai", "venue": "Community hall", "capacity": 8, "sig_id": self.sigs[2]["id"],
            "tags": ["devops", "meetup"]})
        self._event_action(meetup["id"], "publish")
        meetup = self._event_action(meetup["id"], "open-registration")
        self.events["meetup"] = meetup
        regs = self._register(meetup["id"], self.rng.sample(pool, 12))
        confirmed = [r for r in regs if r.status == "confirmed"]
        waitlisted = [r for r in regs if r.status == "waitlisted"]
        assert (len(confirmed), len(waitlisted)) == (8, 4), [r.status for r in regs]
        positions = {}
        for r in waitlisted:
            positions[r.member.id] = r.member.client.call(
                "GET", f"/api/v1/events/{meetup['id']}/registrations/me")["position"]
        assert sorted(positions.values()) == [1, 2, 3, 4]
        leaving = confirmed[:3]
        self.parallel(lambda r: r.member.client.call("DELETE", f"/api/v1/events/{meetup['id']}/registrations/me"),
                      leaving)
        promoted = sorted(waitlisted, key=lambda r: positions[r.member.id])[:3]
        still_waiting = sorted(waitlisted, key=lambda r: positions[r.member.id])[3]
        for r in promoted:
            mine = r.member.client.call("GET", f"/api/v1/events/{meetup['id']}/registrations/me")
            assert mine["status"] == "confirmed", mine
            r.code = mine["checkin_code"] or r.code
        mine = still_waiting.member.client.call("GET", f"/api/v1/events/{meetup['id']}/registrations/me")
        assert (mine["status"], mine["position"]) == ("waitlisted", 1), mine
        self.meetup_outcome = {"promoted": [r.member.id for r in promoted], "waiting": still_waiting.member.id}
        speaker = self.rng.choice([m for m in pool if m not in (r.member for r in regs)])
        self.operator.call("POST", f"/api/v1/events/{meetup['id']}/speakers",
                           json={"user_id": speaker.id, "talk_title": "Running GitOps for 300 clusters"})
        speaker.client.call("POST", f"/api/v1/events/{meetup['id']}/speakers/{speaker.id}/confirm")
        self.record("SpeakerConfirmed", user_id=speaker.id, event_id=meetup["id"], tags=meetup["tags"],
                    sig_id=meetup.get("sig_id"))
        self.contributions[speaker.id] += 1
        self.evidence[speaker.id].add(meetup["id"])
        self.speaker = speaker
        self._event_action(meetup["id"], "start")
        attending = list(confirmed[3:] + promoted)
        self._check_in(meetup, attending)
        self._event_action(meetup["id"], "end")
        stats = self.operator.call("GET", f"/api/v1/events/{meetup['id']}/stats")
        assert (stats["confirmed"], stats["waitlisted"], stats["checked_in"]) == (8, 1, 8), stats

        # the training with an exam: some pass at once, some on a second attempt, some never
        training = self.operator.call("POST", "/api/v1/events", json={
            "kind": "training", "title": "Kubernetes administration training", "starts_at": soon.isoformat(),
            "online": True, "sig_id": self.sigs[0]["id"], "tags": ["kubernetes", "training"]})
        self.operator.call("POST", f"/api/v1/events/{training['id']}/exam", json={
            "questions": [{"id": f"q{i}", "text": t, "kind": "multiple" if len(c) > 1 else "single",
                           "options": o, "correct": c, "points": 1} for i, (t, o, c) in enumerate(EXAM)],
            "pass_mark": 75, "time_limit_seconds": 600, "max_attempts": 2})
        self._event_action(training["id"], "publish")
        training = self._event_action(training["id"], "open-registration")
        self.events["training"] = training
        trainees = [self.star, *self.rng.sample(pool, max(6, self.n_members // 8))]
        self._register(training["id"], trainees)
        self._event_action(training["id"], "start")
        outcomes = {m.id: ("pass" if i % 5 < 3 else "retry" if i % 5 == 3 else "fail") for i, m in enumerate(trainees)}
        outcomes[self.star.id] = "pass"

        def sit(m: Member) -> dict:
            plan = outcomes[m.id]
            wrong = plan in ("retry", "fail")
            result = None
            for _attempt in range(2 if plan != "pass" else 1):
                att = m.client.call("POST", f"/api/v1/events/{training['id']}/exam/attempts")
                answers = {q["id"]: EXAM[int(q["id"][1:])][2] for q in att["questions"]}
                if wrong:
                    answers = {k: [(v[0] + 1) % 3] for k, v in answers.items()}  # every answer wrong
                result = m.client.call("POST", f"/api/v1/events/{training['id']}/exam/attempts/{att['id']}/submit",
                                       json={"answers": answers})
                self._count_write()
                assert result["passed"] == (not wrong), result
                wrong = plan == "fail"
            return result

        results = self.parallel(sit, trainees)
        for m, result in zip(trainees, results, strict=True):
            if outcomes[m.id] != "fail":
                self.certificates.append(result["certificate_id"])
                self.record("ExamPassed", user_id=m.id, exam_id=training["id"], event_id=training["id"],
                            tags=training["tags"], sig_id=training.get("sig_id"))
        self.exam_outcomes = outcomes
        self._event_action(training["id"], "end")
        self.say(f"events: live stream, meetup, training with {len(trainees)} trainees")

    def second_thoughts(self) -> None:
        """Phase 4 (only negatives): some upvotes retracted, some answers and questions downvoted."""
        from e2e.expected_points import expected

        totals = expected(self.facts).totals
        budget = Counter(dict(totals.items()))  # what each member can lose without hitting the floor
        retract = []
        for fact in self.rng.sample(self.upvote_facts, min(len(self.upvote_facts), self.n_members // 10)):
            author = fact.data["author_id"]
            if author == self.star.id or budget[author] < 20:
                continue
            budget[author] -= 10  # at most what the vote gave
            retract.append(fact)
        downs = []
        voters = [m for m in self.active() if m is not self.star]
        posts = [p for p in self.posts.values() if p.type in ("answer", "question") and p.author != self.star.id]
        for _ in range(self.n_members // 4):
            voter, p = self.rng.choice(voters), self.rng.choice(posts)
            if voter.id == p.author or (voter.id, p.id) in self.votes:
                continue
            cast = 1 if p.type == "answer" else 0
            if budget[p.author] < 6 or budget[voter.id] < cast + 4:
                continue
            budget[p.author] -= 2
            budget[voter.id] -= cast
            self.votes.add((voter.id, p.id))
            downs.append((voter, p))

        def undo(fact: Fact) -> None:
            self._member(fact.data["voter_id"]).client.call("DELETE", f"/api/v1/content/posts/{fact.data['post_id']}/vote")
            self._count_write()

        def downvote(plan: tuple[Member, Post]) -> None:
            voter, p = plan
            voter.client.call("PUT", f"/api/v1/content/posts/{p.id}/vote", json={"value": -1})
            self._count_write()

        self.parallel(undo, retract)
        self.parallel(downvote, downs)
        for fact in retract:
            fact.retracted = True
        for voter, p in downs:
            self.record("PostVoted", post_id=p.id, post_type=p.type, value=-1, author_id=p.author,
                        voter_id=voter.id, tags=p.tags, sig_id=p.sig_id)
        self.say(f"second thoughts: {len(retract)} retracted, {len(downs)} downvotes")

    def close(self) -> None:
        self.operator.close()
        for m in self.members:
            m.client.close()
