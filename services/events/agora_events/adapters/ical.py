"""iCalendar (RFC 5545) feeds for one event or a whole series."""

from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event, vText

DEFAULT_DURATION = timedelta(hours=1)

_STATUS = {"cancelled": "CANCELLED", "draft": "TENTATIVE"}


def _vevent(doc: dict, base_url: str) -> Event:
    ev = Event()
    ev.add("uid", f"{doc['_id']}@agora-events")
    ev.add("dtstamp", datetime.now(UTC))
    ev.add("dtstart", doc["starts_at"])
    ev.add("dtend", doc.get("ends_at") or doc["starts_at"] + DEFAULT_DURATION)
    ev.add("summary", doc["title"])
    if doc.get("description"):
        ev.add("description", doc["description"])
    location = ", ".join(x for x in (doc.get("venue"), doc.get("address"), doc.get("city")) if x)
    ev.add("location", location or "Online")
    ev.add("url", f"{base_url.rstrip('/')}/api/v1/events/{doc['_id']}")
    ev.add("status", _STATUS.get(doc["status"], "CONFIRMED"))
    # calendar clients replace their copy when SEQUENCE grows: the aggregate version does that
    ev.add("sequence", doc.get("version", 0))
    ev.add("categories", [doc["kind"], *doc.get("tags", [])])
    return ev


def calendar(name: str, docs: list[dict], base_url: str) -> bytes:
    cal = Calendar()
    cal.add("prodid", "-//Agora//Community events//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    # an X- property is not known to be text, so icalendar would not escape a line break in it (and refuse it)
    cal.add("x-wr-calname", vText(name))
    for doc in docs:
        cal.add_component(_vevent(doc, base_url))
    return cal.to_ical()
