"""User groups, announcement delivery in batches and the mail adapter's use case, on in-memory fakes (no servers).
The API, transactions and real SMTP are in tests/integration/test_groups.py and test_mail.py."""

from datetime import timedelta

import pytest
from agora_common.errors import Conflict, InvalidInput
from agora_common.events import Envelope
from agora_common.events.users import AnnouncementDelivered
from agora_common.ids import utcnow
from agora_common.topics import Topics
from agora_testing.fakes import FakeTransactions, memory_database
from agora_users.adapters.hashing import PasswordHasher
from agora_users.adapters.store import Store, ensure_indexes
from agora_users.api.group_schemas import GroupCreate
from agora_users.config import Settings
from agora_users.service import announcements, groups, mail
from pydantic import ValidationError


@pytest.fixture
async def store() -> Store:
    db = memory_database()
    settings = Settings(announcement_batch_size=2, mail_from="Agora <no-reply@agora.test>")
    store = Store(settings=settings, db=db, topics=Topics(), transactions=FakeTransactions(db),
                  hasher=PasswordHasher(time_cost=1, memory_cost_kib=8, parallelism=1))
    await ensure_indexes(db)
    now = utcnow()
    await db.users.insert_many([
        {"_id": f"u{i}", "display_name": f"U{i}", "email": f"u{i}@example.com", "roles": ["member"],
         "status": "deleted" if i == 5 else "active", "industry": "Finance" if i % 2 else "Retail",
         "created_at": now} for i in range(1, 8)])
    return store


def test_a_group_is_a_filter_or_a_list():
    assert GroupCreate(name="All", filter={}).filter is not None
    for body in ({"name": "x"}, {"name": "Both", "filter": {}, "members": ["u1"]}, {"name": "No", "members": []},
                 {"name": "Typo", "filter": {"citi": "Paris"}}):
        with pytest.raises(ValidationError):
            GroupCreate(**body)


async def test_announcement_is_delivered_in_batches_to_unmuted_members(store):
    group, _ = await groups.create(store=store, name="Finance", description=None, required=False,
                                   filter={"industry": "Finance"}, members=None, operator_id="op")
    ann, _ = await announcements.send(store=store, group_id=group["_id"], operator_id="op", title="Hi", body="B",
                                      link=None)
    # Finance: u1, u3, u7 (u5 is deleted); two per batch
    assert (ann["status"], ann["recipients"], ann["muted"], ann["batches"]) == ("delivered", 3, 0, 2)
    published = store.transactions.published
    assert [(e.type, e.version) for e in published] == [
        ("AnnouncementDelivered", 2), ("AnnouncementDelivered", 3), ("AnnouncementSent", 4)]
    assert [e.payload().user_ids for e in published[:2]] == [["u1", "u3"], ["u7"]]
    assert {e.subject for e in published} == {ann["_id"]}

    # muted members get nothing; a batch of muted members only publishes nothing
    for user in ("u3", "u7"):
        await groups.mute(store=store, group_id=group["_id"], user_id=user)
    store.transactions.published.clear()
    ann, _ = await announcements.send(store=store, group_id=group["_id"], operator_id="op", title="Again", body="B",
                                      link=None)
    assert (ann["recipients"], ann["muted"], ann["batches"]) == (1, 2, 1)
    assert [(e.type, e.version) for e in store.transactions.published] == [
        ("AnnouncementDelivered", 2), ("AnnouncementSent", 3)]
    assert await announcements.unread_count(store=store, user_id="u1") == 2
    assert await announcements.unread_count(store=store, user_id="u3") == 1


async def test_required_groups_cannot_be_muted_and_lists_must_name_members(store):
    group, _ = await groups.create(store=store, name="Notices", description=None, required=True, filter={},
                                   members=None, operator_id="op")
    with pytest.raises(Conflict) as info:
        await groups.mute(store=store, group_id=group["_id"], user_id="u1")
    assert info.value.code == "group_required"
    with pytest.raises(InvalidInput) as bad:
        await groups.create(store=store, name="Gone", description=None, required=False, filter=None,
                            members=["u1", "u5"], operator_id="op")
    assert bad.value.code == "unknown_members" and bad.value.details == {"user_ids": ["u5"]}
    with pytest.raises(Conflict):
        await groups.create(store=store, name=" notices ", description=None, required=False, filter={},
                            members=None, operator_id="op")


class RecordingMailer:
    def __init__(self) -> None:
        self.sent: list = []

    async def send(self, messages):
        self.sent.extend(messages)
        return ["sent"] * len(messages)


def delivered(user_ids: list[str], *, age: timedelta = timedelta(0)) -> Envelope:
    event = AnnouncementDelivered(announcement_id="a1", group_id="g1", group_name="Finance", title="Peer exchange",
                                  body="Thursday.", link="https://agora.test/e/1", sent_by="op", batch=1,
                                  user_ids=user_ids)
    return Envelope.wrap(event, subject="a1", version=2, actor="op", time=utcnow() - age)


async def test_the_mail_adapter_mails_each_member_once_and_skips_old_announcements(store):
    mailer = RecordingMailer()
    await mail.handle_events([delivered(["u1", "u2", "u5", "nobody"])], store=store, mailer=mailer)
    assert [m["To"] for m in mailer.sent] == ["u1@example.com", "u2@example.com"]  # u5 deleted, nobody unknown
    message = mailer.sent[0]
    assert message["Subject"] == "[Finance] Peer exchange" and message["From"] == "Agora <no-reply@agora.test>"
    assert "Thursday." in message.get_content() and "https://agora.test/e/1" in message.get_content()
    await mail.handle_events([delivered(["u1", "u2", "u3"])], store=store, mailer=mailer)  # a redelivery, and u3
    assert [m["To"] for m in mailer.sent][2:] == ["u3@example.com"]
    await mail.handle_events([delivered(["u4"], age=timedelta(hours=25))], store=store, mailer=mailer)
    assert len(mailer.sent) == 3
