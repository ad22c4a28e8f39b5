"""The pure rules of data-subject requests: the legal month, the reminders, extensions,
rectifiable fields and when erasure must be refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from state_models import subject_requests as rules

PARIS_NOON = datetime(2026, 1, 31, 11, 0, tzinfo=UTC)


def test_one_calendar_month_ends_on_the_last_day_when_the_day_is_missing() -> None:
    assert rules.legal_deadline(PARIS_NOON) == datetime(2026, 2, 28, 11, 0, tzinfo=UTC)
    assert rules.legal_deadline(datetime(2028, 1, 31, tzinfo=UTC)) == datetime(2028, 2, 29, tzinfo=UTC)
    assert rules.legal_deadline(datetime(2026, 12, 15, tzinfo=UTC)) == datetime(2027, 1, 15, tzinfo=UTC)
    # Extended by two months: three calendar months from receipt.
    assert rules.legal_deadline(datetime(2026, 11, 30, tzinfo=UTC), 2) == datetime(2027, 2, 28, tzinfo=UTC)
    with pytest.raises(ValueError):
        rules.legal_deadline(datetime(2026, 1, 1))


def test_reminders_two_weeks_and_three_days_before_then_escalation() -> None:
    deadline = datetime(2026, 3, 1, tzinfo=UTC)
    assert [(n.name, n.at) for n in rules.notices(deadline)] == [
        ("reminder_2w", datetime(2026, 2, 15, tzinfo=UTC)),
        ("reminder_3d", datetime(2026, 2, 26, tzinfo=UTC)),
        ("escalation", deadline)]
    notice, due = rules.next_notice(deadline, datetime(2026, 2, 1, tzinfo=UTC), set())
    assert (notice.name, due) == ("reminder_2w", False)  # type: ignore[union-attr]
    # Sent in order even when the previous one took time: the 3-day reminder is not lost.
    notice, due = rules.next_notice(deadline, datetime(2026, 2, 27, tzinfo=UTC), {"reminder_2w"})
    assert (notice.name, due) == ("reminder_3d", True)  # type: ignore[union-attr]
    # Recorded late (past both reminders): one reminder, the last one; the first never goes.
    assert rules.overdue_when_known(deadline, datetime(2026, 2, 27, tzinfo=UTC)) == {"reminder_2w"}
    assert rules.overdue_when_known(deadline, datetime(2026, 2, 1, tzinfo=UTC)) == set()
    notice, due = rules.next_notice(deadline, deadline, {"reminder_2w", "reminder_3d"})
    assert (notice.name, due) == ("escalation", True)  # type: ignore[union-attr]
    assert rules.next_notice(deadline, deadline, {"reminder_2w", "reminder_3d", "escalation"}) == (None, False)


def test_extension_up_to_two_months_with_a_reason_before_the_deadline() -> None:
    rules.check_extension(0, 2, "demande complexe", rules.RECEIVED, deadline_passed=False)
    rules.check_extension(1, 1, "nombreux dossiers", rules.RECEIVED, deadline_passed=False)
    for so_far, months, reason, state, passed, field in (
            (1, 2, "motif", rules.RECEIVED, False, "months"),
            (0, 0, "motif", rules.RECEIVED, False, "months"),
            (0, 1, "  ", rules.RECEIVED, False, "reason"),
            (0, 1, "motif", rules.ANSWERED, False, "months"),
            (0, 1, "motif", rules.RECEIVED, True, "months")):
        with pytest.raises(rules.RequestRefused) as refused:
            rules.check_extension(so_far, months, reason, state, passed)
        assert refused.value.field == field


def test_rectification_corrects_person_fields_only() -> None:
    assert rules.validate_corrections({"birth_name": " Santoni ", "email": ""}) == {
        "birth_name": "Santoni", "email": ""}
    for bad in ({}, {"nir": "1"}, {"price": "10"}, {"birth_date": "31/01/1990"},
                {"first_names": " "}):
        with pytest.raises(rules.RequestRefused):
            rules.validate_corrections(bad)


def test_erasure_refused_for_public_funding_records_and_open_dossiers() -> None:
    status = rules.DossierStatus
    assert rules.erasure_refusal([]) is None
    assert rules.erasure_refusal([status("D-1", "cancelled")]) is None
    funded = rules.erasure_refusal([status("D-1", "cancelled"), status("D-2", "settled")])
    assert funded is not None and "D-2" in funded and "17.3" in funded and "financement public" in funded
    still_open = rules.erasure_refusal([status("D-3", "validated")])
    assert still_open is not None and "D-3" in still_open and "annulé" in still_open


def test_retention_counts_days_back_from_now() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert rules.retention_cutoff(now, 3650) == now - timedelta(days=3650)
    with pytest.raises(ValueError):
        rules.retention_cutoff(now, 0)
