import pytest

from state_models.incident import (
    EVENTS,
    OPEN_STATES,
    STATES,
    IllegalTransition,
    IncidentLifecycle,
    Severity,
    allowed_events,
    next_state,
)
from state_models.incident_priority import PriorityMatrix, parse_matrix

# The whole transition table: (state, event) → next state. Anything absent is illegal.
LEGAL = {
    ("detected", "notify"): "notified",
    ("detected", "acknowledge"): "acknowledged",
    ("detected", "work_around"): "worked_around",
    ("detected", "resolve"): "resolved",
    ("notified", "acknowledge"): "acknowledged",
    ("notified", "work_around"): "worked_around",
    ("notified", "resolve"): "resolved",
    ("acknowledged", "work_around"): "worked_around",
    ("acknowledged", "resolve"): "resolved",
    ("worked_around", "resolve"): "resolved",
}
ILLEGAL = [(s, e) for s in STATES for e in EVENTS if (s, e) not in LEGAL]


def test_states_and_events() -> None:
    assert STATES == ("detected", "notified", "acknowledged", "worked_around", "resolved")
    assert EVENTS == ("notify", "acknowledge", "work_around", "resolve")
    assert OPEN_STATES == set(STATES) - {"resolved"}


def test_starts_detected() -> None:
    assert IncidentLifecycle().current_state_value == "detected"


def test_the_full_path() -> None:
    machine = IncidentLifecycle()
    for event, state in [
        ("notify", "notified"),
        ("acknowledge", "acknowledged"),
        ("work_around", "worked_around"),
        ("resolve", "resolved"),
    ]:
        machine.send(event)
        assert machine.current_state_value == state
    assert machine.is_terminated


@pytest.mark.parametrize(("state", "event"), sorted(LEGAL), ids=lambda v: str(v))
def test_every_legal_transition(state: str, event: str) -> None:
    machine = IncidentLifecycle(start_value=state)
    machine.send(event)
    assert machine.current_state_value == LEGAL[state, event]
    assert next_state(state, event) == LEGAL[state, event]


@pytest.mark.parametrize(("state", "event"), ILLEGAL, ids=lambda v: str(v))
def test_every_illegal_event_names_state_and_event(state: str, event: str) -> None:
    machine = IncidentLifecycle(start_value=state)
    with pytest.raises(IllegalTransition) as refusal:
        machine.send(event)
    assert (refusal.value.state, refusal.value.event) == (state, event)
    assert f"'{state}'" in str(refusal.value) and f"'{event}'" in str(refusal.value)
    assert refusal.value.allowed == allowed_events(state)
    assert machine.current_state_value == state  # nothing moved
    with pytest.raises(IllegalTransition):
        next_state(state, event)


def test_unknown_event_is_an_illegal_transition() -> None:
    with pytest.raises(IllegalTransition, match="'reopen'"):
        IncidentLifecycle(start_value="resolved").send("reopen")


@pytest.mark.parametrize("state", STATES)
def test_allowed_events_match_the_table(state: str) -> None:
    expected = [event for event in EVENTS if (state, event) in LEGAL]
    assert allowed_events(state) == expected
    machine = IncidentLifecycle(start_value=state)
    assert sorted(e.id for e in machine.allowed_events) == sorted(expected)


@pytest.mark.parametrize("state", STATES)
def test_restore_from_a_stored_state_value(state: str) -> None:
    stored = IncidentLifecycle(start_value=state).current_state_value
    restored = IncidentLifecycle(start_value=stored)
    assert restored.current_state_value == state
    assert restored.is_terminated == (state == "resolved")


def test_restored_model_keeps_moving() -> None:
    machine = IncidentLifecycle()
    machine.send("notify")
    restored = IncidentLifecycle(start_value=machine.current_state_value)
    restored.send("acknowledge")
    restored.send("resolve")
    assert restored.current_state_value == "resolved"


def test_restore_refuses_an_unknown_state() -> None:
    with pytest.raises(Exception, match="not a valid state"):
        IncidentLifecycle(start_value="closed")


def test_the_lifecycle_never_moves_backwards() -> None:
    for (state, _), target in LEGAL.items():
        assert STATES.index(target) > STATES.index(state)


def test_severity_values_are_plain_strings() -> None:
    assert Severity("critical_major") is Severity.CRITICAL_MAJOR
    assert Severity.MINOR == "minor"
    assert [s.value for s in Severity] == ["critical_major", "minor"]
    with pytest.raises(ValueError):
        Severity("blocking")


# --- priority from impact × urgency (state_models/incident_priority.py) ---------------------

def test_the_convention_s_critical_or_major_impacts_carry_the_sla_whatever_the_urgency() -> None:
    matrix = PriorityMatrix()
    for impact in ("all_users", "fifty_users_or_more", "non_essential_functions"):
        for urgency in ("high", "medium", "low"):
            assert matrix.severity(matrix.priority(impact, urgency)) == "critical_major"
    assert matrix.priority("all_users", "high") == "P1"
    assert matrix.severity(matrix.priority("one_user", "high")) == "minor"
    with pytest.raises(ValueError, match="impact inconnu"):
        matrix.priority("la_moitie", "high")
    with pytest.raises(ValueError, match="urgence inconnue"):
        matrix.priority("all_users", "demain")


def test_a_configured_matrix_decides_priorities_and_must_grade_every_urgency() -> None:
    matrix = parse_matrix({"cells": {"all_users": {"high": "P1", "low": "P3"},
                                     "one_user": {"high": "P2", "low": "P4"}},
                           "sla_priorities": ["P1", "P2"]})
    assert matrix.severity(matrix.priority("one_user", "high")) == "critical_major"
    assert matrix.severity(matrix.priority("all_users", "low")) == "minor"
    assert matrix.urgencies() == ["high", "low"]
    with pytest.raises(ValueError, match="chaque urgence"):
        parse_matrix({"cells": {"all_users": {"high": "P1"}, "one_user": {"low": "P4"}}})
