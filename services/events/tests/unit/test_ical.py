"""The iCalendar feeds: whatever text organisers type (line breaks included) comes out escaped, never a 500."""

from datetime import UTC, datetime

from agora_events.adapters import ical
from icalendar import Calendar

EVENT = {"_id": "e1", "starts_at": datetime(2030, 1, 1, 10, tzinfo=UTC), "status": "published", "kind": "meetup",
         "tags": ["k8s"], "version": 3}


def test_line_breaks_in_every_text_field_are_escaped():
    text = "Line one\nline two"
    doc = {**EVENT, "title": text, "description": text, "venue": text, "city": "Shanghai"}
    parsed = Calendar.from_ical(ical.calendar(text, [doc], "https://agora.example.org"))
    assert parsed["x-wr-calname"].to_ical() == b"Line one\\nline two"  # an X- property is read back as written
    event = parsed.walk("VEVENT")[0]
    assert str(event["summary"]) == text and str(event["description"]) == text
    assert str(event["uid"]) == "e1@agora-events" and event["sequence"] == 3
