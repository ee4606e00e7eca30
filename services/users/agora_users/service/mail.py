"""The mail adapter for announcements: consumes the users topic's `AnnouncementDelivered` batches (group
`<prefix>users.mail`) and mails each member of the batch who has an email, through the `Mailer` port (SMTP).

Each mail sent (or refused by the server) is recorded per announcement and member (`mail_deliveries`), so a batch
redelivered after a crash or a broker hiccup mails only those not mailed yet. The record is written after the
send: a process killed between the two can mail someone twice (at least once, never lost). Events are read from
the beginning of the topic, so announcements older than `mail_max_age_hours` are skipped: enabling the adapter
does not mail the whole history.
"""

import logging
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from agora_common.events import Envelope
from agora_common.events.dispatch import EventHandlers
from agora_common.events.users import AnnouncementDelivered
from agora_common.ids import utcnow
from pymongo.errors import BulkWriteError

from agora_users.adapters import metrics
from agora_users.adapters import store as c
from agora_users.adapters.mail import Mailer, MailInterrupted, Outcome
from agora_users.adapters.store import Store

log = logging.getLogger(__name__)

MAIL: EventHandlers[Any] = EventHandlers("users.mail")


async def handle_events(envelopes: list[Envelope], *, store: Store, mailer: Mailer) -> None:
    for envelope in envelopes:
        await MAIL.dispatch(envelope, store=store, mailer=mailer)


@MAIL.on(AnnouncementDelivered)
async def mail_batch(event: AnnouncementDelivered, envelope: Envelope, *, store: Store, mailer: Mailer) -> None:
    if envelope.time < utcnow() - timedelta(hours=store.settings.mail_max_age_hours):
        metrics.MAILS.labels("too_old").inc(len(event.user_ids))
        return
    keys = {u: f"{event.announcement_id}:{u}" for u in event.user_ids}
    done = {d["user_id"] for d in await store[c.MAIL_DELIVERIES].find(
        {"_id": {"$in": list(keys.values())}}, {"user_id": 1}).to_list()}
    users = await store[c.USERS].find(
        {"_id": {"$in": [u for u in event.user_ids if u not in done]}, "status": {"$ne": "deleted"},
         "email": {"$type": "string"}}, {"email": 1, "display_name": 1}).to_list()
    metrics.MAILS.labels("no_email").inc(len(event.user_ids) - len(done) - len(users))
    if not users:
        return
    messages = [message(event, to=u["email"], name=u.get("display_name"), sender=store.settings.mail_from or "")
                for u in users]
    try:
        outcomes = await mailer.send(messages)
    except MailInterrupted as exc:
        await _record(store, event, users, exc.outcomes)
        raise  # the consumer stops without committing: the batch comes again, minus those recorded
    await _record(store, event, users, outcomes)


async def _record(store: Store, event: AnnouncementDelivered, users: list[dict], outcomes: list[Outcome]) -> None:
    now = utcnow()
    rows = [{"_id": f"{event.announcement_id}:{u['_id']}", "announcement_id": event.announcement_id,
             "user_id": u["_id"], "outcome": outcome, "at": now} for u, outcome in zip(users, outcomes, strict=False)]
    for outcome in set(outcomes):
        metrics.MAILS.labels(outcome).inc(outcomes.count(outcome))
    if not rows:
        return
    try:
        await store[c.MAIL_DELIVERIES].insert_many(rows, ordered=False)
    except BulkWriteError as exc:  # recorded already by a concurrent consumer: fine; anything else is not
        if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
            raise


def message(event: AnnouncementDelivered, *, to: str, name: str | None, sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = f"[{event.group_name}] {event.title}"
    msg["From"] = sender
    msg["To"] = to
    msg["Message-ID"] = make_msgid(idstring=event.announcement_id.replace("-", ""))
    msg["Auto-Submitted"] = "auto-generated"
    lines = [f"Hello {name}," if name else "Hello,", "", event.body, ""]
    if event.link:
        lines += [f"More: {event.link}", ""]
    lines += ["--", f"You receive this as a member of the group \"{event.group_name}\" on Agora. "
              "It is also in your Agora inbox, where you can reply or mute the group (unless it is required)."]
    msg.set_content("\n".join(lines))
    return msg
