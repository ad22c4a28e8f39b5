"""The lifecycle of an incident on the AGORA link (SPEC §4), pure.

detected → notified → acknowledged → worked_around → resolved

- ``notify``: our notification email reached the CDC's CPF support mailbox
  (due within 2 hours of detection). Only from ``detected``.
- ``acknowledge``: the CDC acknowledged the incident. Also accepted from
  ``detected``: the CDC may learn of the anomaly by itself, and its
  acknowledgement can arrive while our notification email is being sent but
  not yet recorded. Refusing it would reject a true fact; the lifecycle only
  tracks the furthest point reached, and whether (and when) the notification
  went out stays the workflow's data.
- ``work_around``: a workaround is in place (the 11-working-hour SLA of a
  critical/major anomaly is met by a fix or a workaround). For the same
  reason, accepted from any earlier open state: a workaround from the CDC is
  an acknowledgement in fact.
- ``resolve``: the incident is fixed, from any open state; ``resolved`` is
  final. A recurrence is a new incident, not a reopening.

The lifecycle never moves backwards. Workflows ask ``allowed_events`` before
acting and restore the model after continue-as-new with
``IncidentLifecycle(start_value=stored_state)``. No timers here (no
``delay=``/timeouts): SLA clocks are Temporal timers in the workflow.
"""


from enum import StrEnum
from typing import Any

from statemachine import State, StateMachine
from statemachine.exceptions import TransitionNotAllowed


class Severity(StrEnum):
    """How serious an anomaly is (Convention de service §2, §5).

    CRITICAL_MAJOR — "anomalie critique ou majeure": total unavailability for
    all users or for at least 50 users, or a partial outage of non-essential
    functions. It must be fixed or worked around within 11 working hours, and
    escalated to the CDC's designated manager when it gets no response.

    MINOR — any other anomaly: its fix may wait for a later release.
    """

    CRITICAL_MAJOR = "critical_major"
    MINOR = "minor"


class IllegalTransition(ValueError):
    """An event the incident lifecycle does not allow in the current state."""

    def __init__(self, state: str, event: str, allowed: list[str]) -> None:
        self.state = state
        self.event = event
        self.allowed = allowed
        super().__init__(
            f"incident event '{event}' is not allowed in state '{state}'"
            f" (allowed: {', '.join(allowed) or 'none'})"
        )


class IncidentLifecycle(StateMachine):
    detected = State(initial=True)
    notified = State()
    acknowledged = State()
    worked_around = State()
    resolved = State(final=True)

    notify = detected.to(notified)
    acknowledge = detected.to(acknowledged) | notified.to(acknowledged)
    work_around = (
        detected.to(worked_around) | notified.to(worked_around) | acknowledged.to(worked_around)
    )
    resolve = (
        detected.to(resolved)
        | notified.to(resolved)
        | acknowledged.to(resolved)
        | worked_around.to(resolved)
    )

    def send(self, event: str, *args: Any, **kwargs: Any) -> Any:
        """Send ``event``; an illegal or unknown one raises IllegalTransition.

        Prefer this to the generated methods (``machine.notify()``), which
        raise statemachine's own TransitionNotAllowed.
        """
        try:
            return super().send(event, *args, **kwargs)
        except TransitionNotAllowed as refusal:
            state = str(self.current_state_value)
            raise IllegalTransition(state, event, allowed_events(state)) from refusal


EVENTS: tuple[str, ...] = ("notify", "acknowledge", "work_around", "resolve")
STATES: tuple[str, ...] = tuple(s.id for s in IncidentLifecycle.states)
OPEN_STATES: frozenset[str] = frozenset(STATES) - {"resolved"}


def allowed_events(state: str) -> list[str]:
    """The events the lifecycle allows in ``state``, in lifecycle order."""
    machine = IncidentLifecycle(start_value=state)
    allowed = {event.id for event in machine.allowed_events}
    return [event for event in EVENTS if event in allowed]


def next_state(state: str, event: str) -> str:
    """The state after ``event``; raises IllegalTransition when not allowed."""
    machine = IncidentLifecycle(start_value=state)
    machine.send(event)
    return str(machine.current_state_value)
