"""The trainee dossier lifecycle (SPEC §9), pure and deterministic.

created → validated → entered → paid* → interrupted ⇄ entered → exited → settled,
cancelled before entry, and re-engineering (a correction of data already sent)
in any open state. The workflow asks this model whether an event is allowed,
runs the AGORA activity, then moves the model: the model decides, the
workflow acts.
"""

from __future__ import annotations

from statemachine import State, StateMachine
from statemachine.exceptions import TransitionNotAllowed


class IllegalTransition(ValueError):
    """An event the lifecycle does not allow in the current state."""

    def __init__(self, state: str, event: str, allowed: list[str]) -> None:
        self.state = state
        self.event = event
        self.allowed = allowed
        super().__init__(
            f"event '{event}' is not allowed in state '{state}'"
            f" (allowed: {', '.join(allowed) or 'none'})"
        )


class DossierLifecycle(StateMachine):
    created = State(initial=True)
    validated = State()
    entered = State()
    paid = State()
    interrupted = State()
    exited = State()
    settled = State(final=True)
    cancelled = State(final=True)

    validate = created.to(validated)
    enter = validated.to(entered)
    pay = entered.to(paid) | paid.to(paid)
    interrupt = entered.to(interrupted) | paid.to(interrupted)
    resume = interrupted.to(entered)
    exit = entered.to(exited) | paid.to(exited) | interrupted.to(exited)
    settle = exited.to(settled)
    cancel = created.to(cancelled) | validated.to(cancelled)
    reengineer = (
        created.to.itself(internal=True)
        | validated.to.itself(internal=True)
        | entered.to.itself(internal=True)
        | paid.to.itself(internal=True)
        | interrupted.to.itself(internal=True)
        | exited.to.itself(internal=True)
    )


EVENTS: tuple[str, ...] = (
    "validate",
    "enter",
    "pay",
    "interrupt",
    "resume",
    "exit",
    "settle",
    "cancel",
    "reengineer",
)
STATES: tuple[str, ...] = tuple(s.id for s in DossierLifecycle.states)
OPEN_STATES: frozenset[str] = frozenset(STATES) - {"settled", "cancelled"}


def allowed_events(state: str) -> list[str]:
    """The events the lifecycle allows in ``state``, in lifecycle order."""
    machine = DossierLifecycle(start_value=state)
    allowed = {event.id for event in machine.allowed_events}
    return [event for event in EVENTS if event in allowed]


def check(state: str, event: str) -> None:
    """Raise IllegalTransition unless ``event`` is allowed in ``state``."""
    if event not in allowed_events(state):
        raise IllegalTransition(state, event, allowed_events(state))


def next_state(state: str, event: str) -> str:
    """The state after ``event``; raises IllegalTransition when not allowed."""
    machine = DossierLifecycle(start_value=state)
    try:
        machine.send(event)
    except TransitionNotAllowed as refusal:
        raise IllegalTransition(state, event, allowed_events(state)) from refusal
    return str(machine.current_state_value)
