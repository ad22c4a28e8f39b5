"""The trainee dossier lifecycle (SPEC §9), pure and deterministic.

created → validated → entered → paid* → interrupted ⇄ entered → exited → settled,
cancelled before entry, and re-engineering (a correction of data already sent)
in any open state. A payment after the exit (the final instalment) is declared and
leaves the dossier exited; none after the settlement. The workflow asks this model whether an event is allowed,
runs the AGORA activity, then adopts the model's new value (``apply``): the
model decides, the workflow acts.
"""


from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

from statemachine import State, StateMachine


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


@dataclass(frozen=True)
class DossierFacts:
    """What a dossier knows: its state, its AGORA registration and the dates later events
    are checked against. A value: ``apply`` returns a new one."""

    state: str = "created"
    agora_dossier_id: str | None = None
    # AGORA's refusal of the registration ("code: message"), until a correction succeeds.
    registration_fault: str | None = None
    entry_date: str | None = None
    last_interruption_date: str | None = None
    exit_date: str | None = None
    payments: int = 0
    # What the entry said of the person's situation (the enter event's fields, codes of
    # state_models/dossier_data.py), and the exit's reason code.
    entry_situation: dict[str, str] = field(default_factory=dict)
    exit_reason_code: str | None = None

    @property
    def registration_refused(self) -> bool:
        return self.agora_dossier_id is None and self.registration_fault is not None


class DossierLifecycle(StateMachine):
    created = State(initial=True)
    validated = State()
    entered = State()
    paid = State()
    interrupted = State()
    exited = State()
    settled = State(final=True)
    cancelled = State(final=True)

    # Every event reported to AGORA needs the dossier AGORA knows; when AGORA refused the
    # registration, only a correction (which retries it) or a cancellation may follow.
    validate = created.to(validated, cond="registration_not_refused")
    enter = validated.to(entered)
    # A remuneration for the training period may be paid after the exit (the last
    # instalment), until the action is settled: the settlement is the last declaration.
    pay = entered.to(paid) | paid.to(paid) | exited.to.itself(internal=True)
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


class _Model:
    """The machine's model: the state it starts from and the facts its conditions read."""

    def __init__(self, state: str, registration_not_refused: bool) -> None:
        self.state = state
        self.registration_not_refused = registration_not_refused


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


# The chart's answers depend only on (state, conditions): each is asked of the chart once
# per process and remembered, since building a machine costs about a millisecond and a
# workflow asks on every event.


@cache
def _enabled(state: str, registration_not_refused: bool) -> tuple[str, ...]:
    machine = DossierLifecycle(_Model(state, registration_not_refused), start_value=state)
    enabled = {event.id for event in machine.enabled_events()}
    return tuple(event for event in EVENTS if event in enabled)


@cache
def _target(state: str, registration_not_refused: bool, event: str) -> str:
    machine = DossierLifecycle(_Model(state, registration_not_refused), start_value=state)
    machine.send(event)
    return str(machine.current_state_value)


def allowed_events(facts: DossierFacts) -> list[str]:
    """The events allowed now (the chart's conditions evaluated), in lifecycle order."""
    return list(_enabled(facts.state, not facts.registration_refused))


def check(facts: DossierFacts, event: str) -> None:
    """Raise IllegalTransition unless ``event`` is allowed now."""
    allowed = allowed_events(facts)
    if event not in allowed:
        raise IllegalTransition(facts.state, event, allowed)


def apply(facts: DossierFacts, event: str, clean: dict[str, Any]) -> DossierFacts:
    """The dossier after ``event`` with its validated data (a new value; ``facts`` is
    unchanged). Raises IllegalTransition when the event is not allowed now."""
    check(facts, event)
    moved = replace(facts, state=_target(facts.state, not facts.registration_refused, event))
    match event:
        case "enter":
            return replace(moved, entry_date=clean["entry_date"],
                           entry_situation={k: v for k, v in clean.items() if k != "entry_date"})
        case "interrupt":
            return replace(moved, last_interruption_date=clean["interruption_date"])
        case "exit":
            return replace(moved, exit_date=clean["exit_date"],
                           exit_reason_code=clean.get("reason_code"))
        case "pay":
            return replace(moved, payments=facts.payments + 1)
    return moved


# A correction is not a lifecycle event: a settled dossier can still be corrected (AGORA
# accepts a re-engineering of a settled dossier), though its workflow has ended.
CORRECTABLE_CLOSED_STATES = frozenset({"settled"})


def events_when_closed(state: str) -> list[str]:
    """The events a closed dossier still takes."""
    return ["reengineer"] if state in CORRECTABLE_CLOSED_STATES else []


def closed_refusal(state: str, event: str) -> str:
    """Why ``event`` cannot be applied to a dossier closed in ``state``, in French."""
    if state == "settled" and event == "pay":
        return ("le dossier est soldé : aucune rémunération ne peut plus être déclarée "
                "(le solde est la dernière déclaration à AGORA)")
    return f"le dossier est clos ({state}) : « {event} » n'est plus possible"


def registered(facts: DossierFacts, agora_dossier_id: str) -> DossierFacts:
    """AGORA found or created the dossier."""
    return replace(facts, agora_dossier_id=agora_dossier_id, registration_fault=None)


def registration_refused(facts: DossierFacts, fault: str) -> DossierFacts:
    return replace(facts, registration_fault=fault)
