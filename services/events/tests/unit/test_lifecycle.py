import pytest
from agora_events.domain.lifecycle import TRANSITIONS, Action, IllegalTransition, Status, allowed_actions, transition


def test_happy_path():
    s = Status.DRAFT
    for action in ("publish", "open-registration", "close-registration", "open-registration", "start", "end"):
        s = transition(s, action)
    assert s == Status.ENDED


@pytest.mark.parametrize("status", list(Status))
def test_every_illegal_pair_raises_with_allowed_actions(status):
    for action in Action:
        if (status, action) in TRANSITIONS:
            continue
        with pytest.raises(IllegalTransition) as err:
            transition(status, action)
        assert err.value.status_code == 409
        assert err.value.details["allowed"] == [a.value for a in allowed_actions(status)]


def test_final_states_have_no_way_out():
    for status in (Status.ENDED, Status.CANCELLED):
        assert allowed_actions(status) == []
        with pytest.raises(IllegalTransition, match="is final"):
            transition(status, Action.CANCEL)


def test_everything_not_final_can_be_cancelled():
    for status in Status:
        if status not in (Status.ENDED, Status.CANCELLED):
            assert transition(status, Action.CANCEL) == Status.CANCELLED
