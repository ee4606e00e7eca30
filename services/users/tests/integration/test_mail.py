"""The SMTP mail adapter: announcements mailed to each recipient through a real local SMTP server (aiosmtpd), by
the service's own consumer of the users topic."""

import socket
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from agora_testing.events import read_events
from agora_testing.waiting import eventually
from agora_users.adapters.mail import MailInterrupted, SmtpMailer, mailer_from_settings
from agora_users.config import Settings
from agora_users.service import mail
from aiosmtpd.controller import Controller

pytestmark = pytest.mark.servers("kafka", "mongo")

U = "/api/v1/users"


class Inbox:
    """An aiosmtpd handler that keeps every message and refuses the addresses in `refuse`."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse: set[str] = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp():
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


@pytest.fixture
def settings(agora_env, smtp):
    return Settings(**agora_env, argon2_time_cost=1, argon2_memory_cost_kib=8, argon2_parallelism=1, outbox_poll_interval=0.1, consume_events=False, mail_enabled=True,
                    mail_smtp_host="127.0.0.1", mail_smtp_port=smtp[1], mail_smtp_security="none",
                    mail_from="Agora <no-reply@agora.test>")


async def test_announcements_are_mailed_once_to_each_recipient(client, signup, operator_headers, smtp, settings,
                                                               app):
    inbox, _ = smtp
    ada = await signup("ada@example.com", "Ada")
    bob = await signup("bob@example.com", "Bob")
    cai = await signup("cai@example.com", "Cai")
    inbox.refuse.add("cai@example.com")
    ids = [m["user"]["id"] for m in (ada, bob, cai)]
    r = await client.post(f"{U}/groups", headers=operator_headers, json={"name": "Trio", "members": ids})
    group = r.json()
    r = await client.post(f"{U}/groups/{group['id']}/announcements", headers=operator_headers, json={
        "title": "Peer exchange", "body": "Thursday 18:00, room 2.", "link": "https://agora.test/events/e1"})
    assert r.status_code == 201 and r.json()["recipients"] == 3
    ann = r.json()

    store = app.state.store

    async def all_handled():
        assert await store.db.mail_deliveries.count_documents({"announcement_id": ann["id"]}) == 3

    await eventually(all_handled, timeout=60)
    assert sorted(m["To"] for m in inbox.messages) == ["ada@example.com", "bob@example.com"]
    message = inbox.messages[0]
    assert message["Subject"] == "[Trio] Peer exchange" and message["From"] == "Agora <no-reply@agora.test>"
    text = message.get_content()
    assert "Thursday 18:00, room 2." in text and "https://agora.test/events/e1" in text
    outcomes = {d["user_id"]: d["outcome"] for d in await store.db.mail_deliveries.find().to_list()}
    assert outcomes == {ids[0]: "sent", ids[1]: "sent", ids[2]: "refused"}

    # a batch delivered again (a redelivery after a crash) mails nobody twice
    events = await read_events(settings.kafka_bootstrap, f"{settings.topic_prefix}users",
                               until=lambda es: any(e.type == "AnnouncementDelivered" for e in es))
    [batch] = [e for e in events if e.type == "AnnouncementDelivered"]
    await mail.handle_events([batch], store=store, mailer=mailer_from_settings(settings))
    assert len(inbox.messages) == 2


async def test_smtp_mailer_reports_refusals_and_interruptions(smtp):
    inbox, port = smtp
    inbox.refuse.add("nobody@example.com")

    def msg(to: str) -> EmailMessage:
        m = EmailMessage()
        m["From"], m["To"], m["Subject"] = "a@agora.test", to, "hi"
        m.set_content("hello")
        return m

    mailer = SmtpMailer(host="127.0.0.1", port=port, security="none")
    assert await mailer.send([msg("x@example.com"), msg("nobody@example.com"), msg("y@example.com")]) == [
        "sent", "refused", "sent"]
    assert [m["To"] for m in inbox.messages] == ["x@example.com", "y@example.com"]
    with pytest.raises(MailInterrupted) as info:
        await SmtpMailer(host="127.0.0.1", port=free_port(), security="none", timeout=2).send([msg("x@example.com")])
    assert info.value.outcomes == []
