"""Real Kafka and Elasticsearch; a fresh topic prefix (hence a fresh index alias) per test."""

import itertools
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from agora_common.auth import issue_token
from agora_common.events import Envelope
from agora_common.events import content as ev
from agora_common.kafka import EventPublisher, ensure_topics
from agora_common.topics import Topics
from agora_search.config import Settings
from agora_search.main import create_app
from agora_testing.waiting import eventually
from asgi_lifespan import LifespanManager

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def settings(agora_env) -> Settings:
    return Settings(**agora_env, reindex_grace_seconds=0.5)


@pytest.fixture
async def client(settings):
    await ensure_topics(settings.kafka_bootstrap, Topics(settings.topic_prefix).all())
    app = create_app(settings)
    async with (
        LifespanManager(app, startup_timeout=30, shutdown_timeout=30) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://test") as c,
    ):
        yield c


@pytest.fixture
def operator_headers(settings) -> dict:
    token, _ = issue_token(settings, user_id="op", roles=["operator"], kind="access")
    return {"Authorization": f"Bearer {token}"}


class Content:
    """Publishes content events the way the content service does: keyed by post id, versioned per aggregate."""

    def __init__(self, publisher: EventPublisher, topic: str) -> None:
        self.publisher = publisher
        self.topic = topic
        self.versions: dict[str, int] = {}
        self.tags: dict[str, list[str]] = {}
        self.authors: dict[str, str | None] = {}
        self.sigs: dict[str, str | None] = {}
        self._clock = itertools.count()

    def envelope(self, event, *, version: int | None = None) -> Envelope:
        # like the content service, every event carries the post's current tags and author
        if event.tags:
            self.tags[event.post_id] = list(event.tags)
        elif self.tags.get(event.post_id):
            event = event.model_copy(update={"tags": self.tags[event.post_id]})
        if isinstance(event, (ev.QuestionAsked, ev.ArticlePublished, ev.AnswerPosted)):
            self.authors[event.post_id] = event.author_id
            self.sigs[event.post_id] = event.sig_id
        elif event.post_id in self.authors:
            event = event.model_copy(update={"author_id": self.authors[event.post_id],
                                             "sig_id": self.sigs.get(event.post_id)})
        version = version or self.versions.get(event.post_id, 0) + 1
        self.versions[event.post_id] = max(version, self.versions.get(event.post_id, 0))
        return Envelope.wrap(event, subject=event.post_id, version=version, time=datetime.now(UTC))

    async def send(self, *events, version: int | None = None) -> list[Envelope]:
        envelopes = [self.envelope(e, version=version) for e in events]
        await self.publisher.publish_many(self.topic, envelopes)
        return envelopes

    async def send_envelopes(self, envelopes: list[Envelope]) -> None:
        await self.publisher.publish_many(self.topic, envelopes)

    def created(self, minutes: int | None = None) -> datetime:
        return T0 + timedelta(minutes=next(self._clock) if minutes is None else minutes)

    async def ask(self, qid, title, body="", *, tags=(), author="u1", minutes=None, sig=None, event=None) -> None:
        await self.send(ev.QuestionAsked(post_id=qid, author_id=author, tags=list(tags), title=title, body=body,
                                         created_at=self.created(minutes), sig_id=sig, event_id=event))

    async def answer(self, aid, qid, body, *, author="u2") -> None:
        await self.send(ev.AnswerPosted(post_id=aid, question_id=qid, author_id=author, body=body,
                                        question_author_id="u1", created_at=self.created()))

    async def accept(self, aid, qid) -> None:
        await self.send(ev.AnswerAccepted(post_id=aid, question_id=qid, author_id="u2", asker_id="u1"))

    async def publish_article(self, aid, title, body="", *, tags=(), author="u1", minutes=None) -> None:
        await self.send(ev.ArticlePublished(post_id=aid, author_id=author, tags=list(tags), title=title, body=body,
                                            published_at=self.created(minutes)))

    async def vote(self, pid, score, *, post_type="question", question_id=None) -> None:
        await self.send(ev.PostVoted(post_id=pid, post_type=post_type, question_id=question_id, author_id="u1",
                                     voter_id="v", value=1, score=score))


@pytest.fixture
async def content(settings):
    publisher = EventPublisher(settings.kafka_bootstrap)
    await publisher.start()
    try:
        yield Content(publisher, Topics(settings.topic_prefix).content)
    finally:
        await publisher.stop()


@pytest.fixture
async def corpus(api, content):
    await content.ask("q1", "如何在 Kubernetes 上安装 KubeSphere 并配置存储", "需要持久化存储卷", tags=["kubesphere", "storage"],
                      author="alice", minutes=10)
    await content.ask("q2", "Installing Python packages behind a proxy", "pip times out", tags=["python"],
                      author="bob", minutes=20)
    await content.ask("q3", "Kafka consumer rebalancing takes forever", "session timeouts", tags=["kafka"],
                      author="alice", minutes=30, sig="sig-streaming")
    await content.publish_article("r1", "Running Kafka on Kubernetes", "Operators make brokers easy",
                                  tags=["kafka", "kubesphere"], author="carol", minutes=40)
    await content.answer("a1", "q2", "Set the proxy with pip --proxy")
    await content.accept("a1", "q2")
    await content.answer("a2", "q3", "Lower the session timeout")
    await content.vote("q3", 7)
    await content.vote("q1", 2)
    await content.vote("r1", 4, post_type="article")
    await api.wait_for(lambda r: r["total"] == 4 and sum(h["score"] for h in r["hits"]) == 13
                       and sum(h["answer_count"] or 0 for h in r["hits"]) == 2)


class Api:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def search(self, **params) -> dict:
        response = await self.client.get("/api/v1/search", params=params)
        assert response.status_code == 200, response.text
        return response.json()

    async def wait_for(self, predicate, *, timeout: float = 20.0, **params) -> dict:
        """Search until the result satisfies `predicate` (indexing is asynchronous)."""

        async def check():
            result = await self.search(**params)
            assert predicate(result), result
            return result

        return await eventually(check, timeout=timeout)

    async def wait_ids(self, expected, **params) -> dict:
        return await self.wait_for(lambda r: sorted(self.ids(r)) == sorted(expected), **params)

    @staticmethod
    def ids(result: dict) -> list[str]:
        return [h["id"] for h in result["hits"]]


@pytest.fixture
def api(client) -> Api:
    return Api(client)
