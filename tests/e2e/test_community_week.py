"""A community's week, end to end, through the gateway only (issue 8).

An operator creates SIGs, a weekly live-stream series, a meetup with limited places and a training with an
exam; members sign up, ask and answer (a third in Chinese), vote, accept, publish articles, register (some are
waitlisted, then promoted), check in, take the exam, and finally retract and downvote a little. Then every
figure a member or operator sees must be exactly what the rules file gives for what happened
(`expected_points.py` computes it in the test): each member's points, the weekly and all-time boards, the
per-tag and per-SIG boards, honor titles; every post is searchable; segments are right; certificates verify.
"""

import os
import time

import pytest
from e2e.checks import (
    assert_certificates,
    assert_nothing_counted_twice,
    assert_points_match,
    assert_replay_check,
    assert_searchable,
    assert_segments,
    assert_titles,
    title_key,
)
from e2e.community import CommunityWeek
from e2e.expected_points import expected

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

MEMBERS = int(os.environ.get("AGORA_E2E_MEMBERS", "250"))


def test_a_community_week(new_stack):
    t0 = time.monotonic()
    stack = new_stack()
    started = time.monotonic()
    week = CommunityWeek(stack.gateway_url, operator_email=stack.operator_email,
                         operator_password=stack.operator_password, members=MEMBERS, seed=2026, say=print)
    try:
        week.run()
        wrote = time.monotonic()
        print(f"stack {started - t0:.1f}s, scenario {wrote - started:.1f}s, {week.writes} writes")
        want = expected(week.facts)
        assert {title_key(t) for t in want.titles[week.star.id]} == {"contributor"}  # the scenario is meant to give one member a title
        assert_points_match(week)
        assert_nothing_counted_twice(week)
        assert_titles(week, want)
        assert_searchable(week)
        assert_segments(week)
        assert_certificates(week)
        assert_replay_check(week)
        print(f"checks {time.monotonic() - wrote:.1f}s")
    finally:
        week.close()

