"""The market lifecycle and its dossiers' book: pure, exhaustive where cheap."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from state_models import market as m
from state_models import market_dossiers as book_rules
from state_models.market_dossiers import MarketDossiers, PlaceRefused
from state_models.validators import ValidationError


def terms(**changes) -> m.MarketTerms:  # type: ignore[no-untyped-def]
    base = m.MarketTerms(
        reference="MP-2026-014", lot_number="3", lot_title="Soudure TIG", siret="73282932000074",
        amount_excl_tax="10000", amount_incl_tax="12000.00", funding_source="region",
        sessions=[m.MarketSession("S1", 2, "2026-01-05", "2026-03-31"),
                  m.MarketSession("S2", 1, "2026-04-06", "2026-06-30")],
    )
    return replace(base, **changes)


def facts_in(state: str, **changes) -> m.MarketFacts:  # type: ignore[no-untyped-def]
    return replace(m.MarketFacts(m.validate_terms(terms())), state=state, **changes)


def run(facts: m.MarketFacts, event: str, data: dict) -> m.MarketFacts:
    return m.apply(facts, event, m.validate_event_data(event, data, facts))


LIFECYCLE = [
    ("validate", {"notification_date": "2025-12-15"}),
    ("enter", {"start_date": "2026-01-05"}),
    ("pay", {"payment_date": "2026-01-10", "amount": "3600", "kind": "advance"}),
    ("interrupt", {"interruption_date": "2026-02-01", "kind": "suspension", "reason": "locaux"}),
    ("resume", {"resume_date": "2026-02-15"}),
    ("pay", {"payment_date": "2026-03-31", "amount": "6000,00", "kind": "instalment"}),
    ("exit", {"end_date": "2026-06-30"}),
    ("settle", {"settlement_date": "2026-07-31"}),
]


def test_registration_is_normalised() -> None:
    clean = m.validate_terms(terms(siret="732 829 320 00074", reference=" MP-2026-014 "))
    assert clean.siret == "73282932000074" and clean.reference == "MP-2026-014"
    assert clean.amount_excl_tax == "10000.00"


@pytest.mark.parametrize(("changes", "field"), [
    ({"reference": " "}, "reference"),
    ({"siret": "73282932000075"}, "siret"),
    ({"amount_incl_tax": "9000"}, "amount_incl_tax"),
    ({"amount_excl_tax": "-1"}, "amount_excl_tax"),
    ({"funding_source": "loto"}, "funding_source"),
    ({"sessions": []}, "sessions"),
    ({"sessions": [m.MarketSession("S1", 0, "2026-01-05", "2026-03-31")]}, "sessions.0.places"),
    ({"sessions": [m.MarketSession("S1", 1, "2026-01-05", "2025-03-31")]}, "sessions.0.end_date"),
    ({"sessions": [m.MarketSession("S1", 1, "2026-01-05", "2026-03-31"),
                   m.MarketSession("S1", 1, "2026-01-05", "2026-03-31")]}, "sessions.1.session_id"),
])
def test_bad_registration_names_the_field(changes: dict, field: str) -> None:
    with pytest.raises(ValidationError) as invalid:
        m.validate_terms(terms(**changes))
    assert invalid.value.field == field


def test_whole_lifecycle_keeps_payments_dates_and_trace() -> None:
    facts = m.MarketFacts(m.validate_terms(terms()))
    for event, data in LIFECYCLE:
        facts = run(facts, event, data)
    assert facts.state == "settled"
    assert [p.amount for p in facts.payments] == ["3600.00", "6000.00"]
    assert m.total_paid(facts) == Decimal("9600.00")
    assert facts.interruption is None and facts.settlement_date == "2026-07-31"
    assert m.allowed_events(facts) == []


@pytest.mark.parametrize("state", m.STATES)
@pytest.mark.parametrize("event", m.EVENTS)
def test_every_refused_event_names_state_and_event(state: str, event: str) -> None:
    facts = facts_in(state, interruption=m.Interruption("suspension", "2026-02-01", "x"))
    if event in m.allowed_events(facts):
        return
    with pytest.raises(m.IllegalTransition) as refusal:
        m.apply(facts, event, {})
    assert f"'{event}'" in str(refusal.value) and f"'{state}'" in str(refusal.value)


def test_amend_is_allowed_until_settled_and_a_terminated_market_never_resumes() -> None:
    assert all("amend" in m.allowed_events(facts_in(s)) for s in m.STATES if s != "settled")
    terminated = facts_in("interrupted", interruption=m.Interruption("termination", "2026-02-01", "faute"))
    assert m.allowed_events(terminated) == ["exit", "amend"]
    suspended = facts_in("interrupted", interruption=m.Interruption("suspension", "2026-02-01", "x"))
    assert "resume" in m.allowed_events(suspended)


def test_payments_over_the_amount_are_refused_until_an_amendment_raises_it() -> None:
    facts = facts_in("entered", start_date="2026-01-05")
    facts = run(facts, "pay", {"payment_date": "2026-01-10", "amount": "11000", "kind": "advance"})
    over = {"payment_date": "2026-02-10", "amount": "1000.01", "kind": "instalment"}
    with pytest.raises(ValidationError) as invalid:
        run(facts, "pay", over)
    assert invalid.value.field == "amount"
    assert "12000.01 €" in invalid.value.reason and "12000.00 €" in invalid.value.reason
    assert "avenant" in invalid.value.reason

    facts = run(facts, "amend", {"amendment_date": "2026-02-05", "reason": "session supplémentaire",
                                 "amount_excl_tax": "11000", "amount_incl_tax": "13200"})
    assert facts.amendments[0].changes == [
        {"name": "amount_excl_tax", "before": "10000.00", "after": "11000.00"},
        {"name": "amount_incl_tax", "before": "12000.00", "after": "13200.00"},
    ]
    facts = run(facts, "pay", over)
    assert m.remaining(facts) == Decimal("1199.99")


def test_an_amendment_changes_session_dates_with_a_trace_and_never_goes_under_paid() -> None:
    facts = facts_in("validated")
    facts = run(facts, "amend", {"amendment_date": "2026-01-02", "reason": "report",
                                 "session_id": "S2", "session_end": "2026-07-15"})
    assert facts.terms.sessions[1].end_date == "2026-07-15"
    assert facts.amendments[0].changes == [
        {"name": "S2.end_date", "before": "2026-06-30", "after": "2026-07-15"}]
    for data, field in [
        ({"session_id": "S9", "session_end": "2026-07-15"}, "session_id"),
        ({"session_id": "S2", "session_end": "2026-01-01"}, "session_end"),
        ({}, "amount_incl_tax"),
        ({"amount_incl_tax": "100", "amount_excl_tax": "90"}, "amount_incl_tax"),
    ]:
        paid = replace(facts, payments=[m.Payment(1, "advance", "500.00", "2026-01-10")])
        with pytest.raises(ValidationError) as invalid:
            m.validate_event_data("amend", {"amendment_date": "2026-01-03", "reason": "x", **data}, paid)
        assert invalid.value.field == field


@pytest.mark.parametrize(("event", "data", "field"), [
    ("pay", {"payment_date": "2026-01-10", "amount": "10", "kind": "gift"}, "kind"),
    ("pay", {"payment_date": "2025-01-10", "amount": "10", "kind": "advance"}, "payment_date"),
    ("pay", {"payment_date": "2026-01-10", "amount": "10"}, "kind"),
    ("pay", {"payment_date": "2026-01-10", "amount": "10", "kind": "advance", "x": "1"}, "x"),
    ("interrupt", {"interruption_date": "2026-02-01", "kind": "pause", "reason": "x"}, "kind"),
    ("exit", {"end_date": "2026-01-01"}, "end_date"),
])
def test_event_data_errors_name_the_field(event: str, data: dict, field: str) -> None:
    with pytest.raises(ValidationError) as invalid:
        m.validate_event_data(event, data, facts_in("entered", start_date="2026-01-05"))
    assert invalid.value.field == field


SESSIONS = [m.MarketSession("S1", 2, "2026-01-05", "2026-03-31"),
            m.MarketSession("S2", 1, "2026-04-06", "2026-06-30")]


def test_places_are_limited_per_session_and_reservations_are_idempotent() -> None:
    book = MarketDossiers()
    assert book_rules.reserve(book, SESSIONS, "D1", "S1")
    assert not book_rules.reserve(book, SESSIONS, "D1", "S1")  # the same dossier again
    assert book_rules.reserve(book, SESSIONS, "D2", "S1")
    with pytest.raises(PlaceRefused) as full:
        book_rules.reserve(book, SESSIONS, "D3", "S1")
    assert full.value.session_id == "S1" and "complète" in full.value.reason
    with pytest.raises(PlaceRefused) as moved:
        book_rules.reserve(book, SESSIONS, "D1", "S2")
    assert "S1" in moved.value.reason
    with pytest.raises(PlaceRefused):
        book_rules.reserve(book, SESSIONS, "D4", "S9")
    # A cancelled dossier gives its place back.
    assert book_rules.report(book, "D2", "cancelled", 3)
    assert book_rules.reserve(book, SESSIONS, "D3", "S1")
    assert book_rules.places_used(book, "S1") == 2


@given(st.lists(st.tuples(st.sampled_from(["D1", "D2", "D3"]), st.integers(1, 8)), max_size=40))
def test_counts_depend_only_on_each_dossiers_latest_report(deliveries: list[tuple[str, int]]) -> None:
    """Reports delivered in any order, any number of times: the latest per dossier wins."""
    states = ["validated", "entered", "paid", "interrupted", "entered", "exited", "settled", "settled"]
    book = MarketDossiers()
    for dossier in ("D1", "D2", "D3"):
        book_rules.reserve(book, SESSIONS, dossier, "S1" if dossier != "D3" else "S2")
    for dossier, seq in deliveries:
        book_rules.report(book, dossier, states[seq - 1], seq)
    latest: dict[str, str] = {"D1": "created", "D2": "created", "D3": "created"}
    for dossier in latest:
        seqs = [seq for d, seq in deliveries if d == dossier]
        if seqs:
            latest[dossier] = states[max(seqs) - 1]
    counts = book_rules.counts(book)
    assert sum(counts.values()) == 3
    assert {s: n for s, n in counts.items() if n} == {
        s: list(latest.values()).count(s) for s in set(latest.values())}


def test_reports_of_unknown_dossiers_or_states_are_ignored() -> None:
    book = MarketDossiers()
    assert not book_rules.report(book, "D9", "entered", 1)
    book_rules.reserve(book, SESSIONS, "D1", "S1")
    assert not book_rules.report(book, "D1", "flying", 1)
    assert book_rules.counts(book)["created"] == 1


def test_settlement_blockers_name_open_and_unsettled_dossiers() -> None:
    book = MarketDossiers()
    for dossier, state in [("D1", "entered"), ("D2", "exited"), ("D3", "settled"), ("D4", "cancelled"),
                           ("D5", "interrupted")]:
        book_rules.reserve(book, [m.MarketSession("S1", 9, "2026-01-05", "2026-03-31")], dossier, "S1")
        book_rules.report(book, dossier, state, 1)
    assert book_rules.settlement_blockers(book) == {"open": ["D1", "D5"], "unsettled": ["D2"]}
