"""Recipient rules without I/O: which preferences change wins, who gets reminders."""

from datetime import UTC, datetime, timedelta

from services.notifier.domain import Preferences, Recipient, Source

T0 = datetime(2030, 5, 17, 18, 0, tzinfo=UTC)


def test_within_one_stream_the_later_position_wins_even_with_an_earlier_clock() -> None:
    later = Source("user-ada", 3, T0)
    earlier = Source("user-ada", 2, T0 + timedelta(seconds=5))
    assert later.supersedes(earlier)
    assert not earlier.supersedes(later)
    assert not later.supersedes(later)  # the same change again


def test_without_comparable_positions_the_later_time_wins() -> None:
    assert Source(None, None, T0 + timedelta(seconds=1)).supersedes(Source(None, None, T0))
    assert not Source("user-ada", 9, T0).supersedes(Source("other", 1, T0 + timedelta(days=1)))


def test_a_stale_change_leaves_the_recipient_as_it_is() -> None:
    recipient = Recipient("ada")
    newer = Preferences(reminders=False, updates=True, show_paid=True)
    assert recipient.set_preferences(newer, Source("user-ada", 3, T0))
    assert not recipient.set_preferences(Preferences(), Source("user-ada", 2, T0))
    assert recipient.preferences == newer
    assert len(recipient.pending) == 1


def test_reminders_skip_users_who_hide_paid_votings_only_for_paid_ones() -> None:
    hides_paid = Preferences(reminders=True, show_paid=False)
    assert hides_paid.wants_reminder(paid=False)
    assert not hides_paid.wants_reminder(paid=True)
    assert not Preferences(reminders=False).wants_reminder(paid=False)
