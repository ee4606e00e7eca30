"""Prometheus metrics of the events service (served at /metrics with the shared ones)."""

from prometheus_client import Counter

REGISTRATIONS = Counter(
    "agora_community_registrations_total", "Registrations to community events, by outcome", ["outcome"]
)  # outcome: confirmed | waitlisted | cancelled | promoted
CHECKINS = Counter("agora_community_checkins_total", "Attendees checked in")
EXAMS_GRADED = Counter("agora_community_exams_graded_total", "Exam attempts graded, by result", ["result"])
