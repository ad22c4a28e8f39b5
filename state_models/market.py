"""The procurement market lifecycle (SPEC §1, §9), pure and deterministic.

A market is one lot of a public procurement bought from one training organisation:

created (registered) → validated (awarded and notified) → entered (execution started)
→ paid* (advance, instalments) → interrupted (suspended ⇄ entered, or terminated)
→ exited (execution ended) → settled (final settlement, reported to AGORA, operation 10).

Amendments (avenants) may change the amount or the sessions' dates in any state
before settlement, each leaving a trace. Money is Decimal here and decimal text in
the dataclasses (they travel in Temporal payloads). Cumulative payments never exceed
the market's amount including tax (payments to the organisation are made tax
included) unless an amendment raised it.

The workflow asks this model whether an event is allowed and what it changes, runs
the AGORA activity when the event has an AGORA counterpart (settlement), then keeps
the new market state: the model decides, the workflow acts.

Settlement rule (our choice, SPEC §9): a market is settled only when every one of its
dossiers is settled or cancelled. A dossier still open (created … interrupted) or
exited but not yet settled is named in the refusal: each dossier's settlement carries
its own amount and is reported by its own workflow, which owns its AGORA state, so the
market never settles a dossier behind its back (see ``market_dossiers.settlement_blockers``).
"""


from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any

from statemachine import State, StateMachine
from statemachine.exceptions import TransitionNotAllowed

from state_models.dossier import IllegalTransition
from state_models.validators import (
    ValidationError,
    normalise_event_data,
    validate_amount,
    validate_date,
    validate_date_order,
    validate_siret,
)

__all__ = ["IllegalTransition"]


class MarketLifecycle(StateMachine):
    created = State(initial=True)
    validated = State()
    entered = State()
    paid = State()
    interrupted = State()
    exited = State()
    settled = State(final=True)

    validate = created.to(validated)
    enter = validated.to(entered)
    pay = entered.to(paid) | paid.to(paid)
    interrupt = entered.to(interrupted) | paid.to(interrupted)
    resume = interrupted.to(entered)
    exit = entered.to(exited) | paid.to(exited) | interrupted.to(exited)
    settle = exited.to(settled)
    amend = (
        created.to.itself(internal=True)
        | validated.to.itself(internal=True)
        | entered.to.itself(internal=True)
        | paid.to.itself(internal=True)
        | interrupted.to.itself(internal=True)
        | exited.to.itself(internal=True)
    )


EVENTS: tuple[str, ...] = (
    "validate", "enter", "pay", "interrupt", "resume", "exit", "settle", "amend",
)
STATES: tuple[str, ...] = tuple(s.id for s in MarketLifecycle.states)

PAYMENT_KINDS: tuple[str, ...] = ("advance", "instalment", "balance")
INTERRUPTION_KINDS: tuple[str, ...] = ("suspension", "termination")
FUNDING_SOURCES: tuple[str, ...] = ("region", "pic", "fse", "state", "other")

# Event -> (required fields, optional fields).
EVENT_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "validate": (("notification_date",), ()),
    "enter": (("start_date",), ()),
    "pay": (("payment_date", "amount", "kind"), ()),
    "interrupt": (("interruption_date", "kind", "reason"), ()),
    "resume": (("resume_date",), ()),
    "exit": (("end_date",), ()),
    "settle": (("settlement_date",), ()),
    "amend": (("amendment_date", "reason"),
              ("amount_excl_tax", "amount_incl_tax", "session_id", "session_start", "session_end")),
}
DATE_FIELDS = frozenset({
    "notification_date", "start_date", "payment_date", "interruption_date", "resume_date",
    "end_date", "settlement_date", "amendment_date", "session_start", "session_end",
})
AMOUNT_FIELDS = frozenset({"amount", "amount_excl_tax", "amount_incl_tax"})


@dataclass
class MarketSession:
    """A planned training session of the lot: its places and its dates."""

    session_id: str
    places: int
    start_date: str
    end_date: str


@dataclass
class MarketTerms:
    """What a market is registered with. Amounts are decimal text, euros."""

    reference: str
    lot_number: str
    lot_title: str
    siret: str
    amount_excl_tax: str
    amount_incl_tax: str
    funding_source: str
    sessions: list[MarketSession] = field(default_factory=list)


@dataclass
class Payment:
    seq: int
    kind: str
    amount: str
    payment_date: str


@dataclass
class Amendment:
    """An avenant: what it changed, from what, to what."""

    seq: int
    amendment_date: str
    reason: str
    changes: list[dict[str, str]] = field(default_factory=list)  # {name, before, after}


@dataclass
class Interruption:
    kind: str  # suspension | termination
    interruption_date: str
    reason: str


@dataclass
class MarketFacts:
    """The market's whole business state: what a view shows and continue-as-new carries."""

    terms: MarketTerms
    state: str = "created"
    notification_date: str | None = None
    start_date: str | None = None
    end_date: str | None = None
    settlement_date: str | None = None
    interruption: Interruption | None = None
    payments: list[Payment] = field(default_factory=list)
    amendments: list[Amendment] = field(default_factory=list)


# --- the lifecycle --------------------------------------------------------------------


def allowed_events(facts: MarketFacts) -> list[str]:
    """The events allowed now, in lifecycle order; a terminated market never resumes."""
    machine = MarketLifecycle(start_value=facts.state)
    allowed = {event.id for event in machine.allowed_events}
    if facts.interruption is not None and facts.interruption.kind == "termination":
        allowed.discard("resume")
    return [event for event in EVENTS if event in allowed]


def accepts_dossiers(facts: MarketFacts) -> bool:
    """New dossiers join a market until its execution ends or it is terminated."""
    terminated = facts.interruption is not None and facts.interruption.kind == "termination"
    return facts.state not in ("exited", "settled") and not terminated


def agora_reference(terms: MarketTerms) -> str:
    """The market's reference at AGORA: there, one lot is one market."""
    return f"{terms.reference}-LOT{terms.lot_number}"


def check(facts: MarketFacts, event: str) -> None:
    """Raise IllegalTransition unless ``event`` is allowed now."""
    allowed = allowed_events(facts)
    if event not in allowed:
        raise IllegalTransition(facts.state, event, allowed)


def next_state(state: str, event: str) -> str:
    machine = MarketLifecycle(start_value=state)
    try:
        machine.send(event)
    except TransitionNotAllowed as refusal:
        raise IllegalTransition(state, event, []) from refusal
    return str(machine.current_state_value)


# --- amounts ----------------------------------------------------------------------------


def total_paid(facts: MarketFacts) -> Decimal:
    return sum((Decimal(p.amount) for p in facts.payments), Decimal("0.00"))


def remaining(facts: MarketFacts) -> Decimal:
    return Decimal(facts.terms.amount_incl_tax) - total_paid(facts)


def _euros(amount: Decimal) -> str:
    return f"{amount:.2f} €"


# --- registration -----------------------------------------------------------------------


def validate_terms(terms: MarketTerms) -> MarketTerms:
    """The registration, normalised; raise ValidationError naming the first bad field
    (sessions' fields are named ``sessions.<n>.<field>``)."""
    for name, longest in (("reference", 40), ("lot_number", 10), ("lot_title", 255)):
        value = getattr(terms, name).strip()
        if not value:
            raise ValidationError(name, "champ obligatoire")
        # AGORA's identifiers hold 64 characters: reference + "-LOT" + lot number fit.
        if len(value) > longest:
            raise ValidationError(name, f"{longest} caractères au plus")
    siret = validate_siret(terms.siret)
    excl = validate_amount(terms.amount_excl_tax, "amount_excl_tax")
    incl = validate_amount(terms.amount_incl_tax, "amount_incl_tax")
    if incl < excl:
        raise ValidationError("amount_incl_tax", "le montant TTC ne peut pas être inférieur au montant HT")
    if terms.funding_source not in FUNDING_SOURCES:
        raise ValidationError("funding_source", "source de financement non reconnue")
    if not terms.sessions:
        raise ValidationError("sessions", "au moins une session est attendue")
    sessions, seen = [], set()
    for index, session in enumerate(terms.sessions):
        loc = f"sessions.{index}"
        session_id = session.session_id.strip()
        if not session_id:
            raise ValidationError(f"{loc}.session_id", "champ obligatoire")
        if session_id in seen:
            raise ValidationError(f"{loc}.session_id", f"session en double : {session_id}")
        seen.add(session_id)
        if session.places < 1:
            raise ValidationError(f"{loc}.places", "au moins une place est attendue")
        start = validate_date(session.start_date, f"{loc}.start_date")
        end = validate_date(session.end_date, f"{loc}.end_date")
        validate_date_order(start, end, f"{loc}.start_date", f"{loc}.end_date")
        sessions.append(MarketSession(session_id, session.places, start.isoformat(), end.isoformat()))
    return MarketTerms(
        reference=terms.reference.strip(), lot_number=terms.lot_number.strip(),
        lot_title=terms.lot_title.strip(), siret=siret, amount_excl_tax=str(excl),
        amount_incl_tax=str(incl), funding_source=terms.funding_source, sessions=sessions,
    )


# --- events -----------------------------------------------------------------------------


def validate_event_data(event: str, data: dict[str, Any], facts: MarketFacts) -> dict[str, Any]:
    """The event's data normalised (dates ISO, amounts decimal text), checked against the
    market's facts; raise ValidationError naming the field and the reason."""
    clean = normalise_event_data(event, data, EVENT_FIELDS, DATE_FIELDS, AMOUNT_FIELDS,
                                 lambda _name, value: str(value).strip())
    _check_rules(event, clean, facts)
    return clean


def _not_before(later: str, earlier: str | None, name: str, label: str) -> None:
    if earlier is not None and date.fromisoformat(later) < date.fromisoformat(earlier):
        raise ValidationError(name, f"la date ne peut pas précéder {label} ({earlier})")


def _check_rules(event: str, clean: dict[str, Any], facts: MarketFacts) -> None:
    if event == "enter":
        _not_before(clean["start_date"], facts.notification_date, "start_date", "la notification")
    elif event == "pay":
        if clean["kind"] not in PAYMENT_KINDS:
            raise ValidationError("kind", "nature de paiement non reconnue")
        _not_before(clean["payment_date"], facts.start_date, "payment_date", "le début d'exécution")
        after = total_paid(facts) + Decimal(clean["amount"])
        ceiling = Decimal(facts.terms.amount_incl_tax)
        if after > ceiling:
            raise ValidationError(
                "amount",
                f"le cumul des paiements ({_euros(after)}) dépasserait le montant du marché "
                f"({_euros(ceiling)} TTC) : un avenant doit d'abord l'augmenter",
            )
    elif event == "interrupt":
        if clean["kind"] not in INTERRUPTION_KINDS:
            raise ValidationError("kind", "nature d'interruption non reconnue")
        _not_before(clean["interruption_date"], facts.start_date, "interruption_date",
                    "le début d'exécution")
    elif event == "resume":
        assert facts.interruption is not None  # the lifecycle allows resume only when interrupted
        _not_before(clean["resume_date"], facts.interruption.interruption_date, "resume_date",
                    "l'interruption")
    elif event == "exit":
        _not_before(clean["end_date"], facts.start_date, "end_date", "le début d'exécution")
    elif event == "settle":
        _not_before(clean["settlement_date"], facts.end_date, "settlement_date", "la fin d'exécution")
    elif event == "amend":
        _check_amendment(clean, facts)


def _check_amendment(clean: dict[str, Any], facts: MarketFacts) -> None:
    changes_amount = "amount_excl_tax" in clean or "amount_incl_tax" in clean
    changes_dates = "session_start" in clean or "session_end" in clean
    if not changes_amount and not changes_dates:
        raise ValidationError("amount_incl_tax", "un avenant change le montant ou les dates d'une session")
    excl = Decimal(clean.get("amount_excl_tax", facts.terms.amount_excl_tax))
    incl = Decimal(clean.get("amount_incl_tax", facts.terms.amount_incl_tax))
    if incl < excl:
        raise ValidationError("amount_incl_tax", "le montant TTC ne peut pas être inférieur au montant HT")
    if incl < total_paid(facts):
        raise ValidationError("amount_incl_tax", f"le montant ne peut pas descendre sous les paiements "
                                                 f"déjà versés ({_euros(total_paid(facts))})")
    if changes_dates:
        session = _session(facts, clean.get("session_id"))
        start = clean.get("session_start", session.start_date)
        end = clean.get("session_end", session.end_date)
        _not_before(end, start, "session_end", "le début de la session")
    elif "session_id" in clean:
        raise ValidationError("session_id", "indiquez les nouvelles dates de la session")


def _session(facts: MarketFacts, session_id: str | None) -> MarketSession:
    if not session_id:
        raise ValidationError("session_id", "champ obligatoire pour changer des dates")
    for session in facts.terms.sessions:
        if session.session_id == session_id:
            return session
    raise ValidationError("session_id", f"session inconnue : {session_id}")


def apply(facts: MarketFacts, event: str, clean: dict[str, Any]) -> MarketFacts:
    """The market after ``event`` with its validated data (a new value; ``facts`` is unchanged)."""
    check(facts, event)
    moved = replace(facts, state=next_state(facts.state, event))
    match event:
        case "validate":
            moved.notification_date = clean["notification_date"]
        case "enter":
            moved.start_date = clean["start_date"]
        case "pay":
            moved.payments = [*facts.payments, Payment(len(facts.payments) + 1, clean["kind"],
                                                       clean["amount"], clean["payment_date"])]
        case "interrupt":
            moved.interruption = Interruption(clean["kind"], clean["interruption_date"], clean["reason"])
        case "resume":
            moved.interruption = None
        case "exit":
            moved.end_date = clean["end_date"]
        case "settle":
            moved.settlement_date = clean["settlement_date"]
        case "amend":
            moved.terms, changes = _amended_terms(facts.terms, clean)
            moved.amendments = [*facts.amendments, Amendment(
                len(facts.amendments) + 1, clean["amendment_date"], clean["reason"], changes)]
    return moved


def _amended_terms(terms: MarketTerms, clean: dict[str, Any]) -> tuple[MarketTerms, list[dict[str, str]]]:
    changes: list[dict[str, str]] = []
    amended = replace(terms, sessions=[replace(s) for s in terms.sessions])
    for name in ("amount_excl_tax", "amount_incl_tax"):
        if name in clean and clean[name] != getattr(terms, name):
            changes.append({"name": name, "before": getattr(terms, name), "after": clean[name]})
            setattr(amended, name, clean[name])
    for session in amended.sessions:
        if session.session_id != clean.get("session_id"):
            continue
        for name, attribute in (("session_start", "start_date"), ("session_end", "end_date")):
            if name in clean and clean[name] != getattr(session, attribute):
                changes.append({"name": f"{session.session_id}.{attribute}",
                                "before": getattr(session, attribute), "after": clean[name]})
                setattr(session, attribute, clean[name])
    return amended, changes
