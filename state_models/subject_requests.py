"""Data-subject requests (SPEC §8, GDPR art. 12 and 15–18), pure rules.

- The legal deadline is one calendar month from receipt (art. 12.3); a month that has no
  such day ends on its last day (31 January → 28 or 29 February, as EU regulation 1182/71
  counts). It may be extended by up to two more months in all, with the reason given to
  the person.
- The DPO's team is reminded two weeks and three days before the deadline, and the
  escalation contacts are written to once it has passed.
- Erasure (art. 17) is refused where a retention obligation applies: a dossier that
  engaged public funding (the trainee entered training) is a public funding record the
  Region must keep; a dossier still being handled must be cancelled first.

No clock, no I/O: the workflow passes ``workflow.now()`` in.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta

ACCESS = "access"
RECTIFICATION = "rectification"
RESTRICTION = "restriction"
ERASURE = "erasure"
KINDS: tuple[str, ...] = (ACCESS, RECTIFICATION, RESTRICTION, ERASURE)

# States of a request.
RECEIVED = "received"  # recorded, not yet answered
IN_PROGRESS = "in_progress"  # carried out, waiting for AGORA's acknowledgements
ANSWERED = "answered"  # done (access delivered, rectified, erased, restriction in force)
REFUSED = "refused"  # refused with its legal ground (erasure under a retention obligation)
LIFTED = "lifted"  # a restriction lifted
CLOSED_STATES = frozenset({ANSWERED, REFUSED, LIFTED})

MAX_EXTENSION_MONTHS = 2
REMINDERS_BEFORE: tuple[tuple[str, timedelta], ...] = (
    ("reminder_2w", timedelta(days=14)),
    ("reminder_3d", timedelta(days=3)),
)
ESCALATION = "escalation"

# Fields of the person a rectification may correct (the NIR identifies the person: a wrong
# NIR is a new dossier, not a correction).
RECTIFIABLE_FIELDS: frozenset[str] = frozenset(
    {"birth_name", "usage_name", "first_names", "birth_date", "email", "phone"})

# Dossier states in which the trainee entered training: public money was engaged.
FUNDED_STATES = frozenset({"entered", "paid", "interrupted", "exited", "settled"})
CLOSED_DOSSIER_STATES = frozenset({"settled", "cancelled"})
RETENTION_GROUND = (
    "Effacement refusé (RGPD art. 17.3.b et e) : le dossier {dossier} a engagé un financement "
    "public ; ses pièces justificatives doivent être conservées pendant la durée légale de "
    "conservation des archives publiques, puis seront effacées automatiquement.")
OPEN_DOSSIER_GROUND = (
    "Effacement impossible pour l'instant : le dossier {dossier} est en cours d'instruction ; "
    "il doit d'abord être annulé.")


class RequestRefused(ValueError):
    """A step not allowed now; ``field`` names what is wrong (the API's 409/422)."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(reason)


def add_months(instant: datetime, months: int) -> datetime:
    """``instant`` plus calendar months; the last day of the month when the day is missing."""
    month_index = instant.month - 1 + months
    year, month = instant.year + month_index // 12, month_index % 12 + 1
    day = min(instant.day, calendar.monthrange(year, month)[1])
    return instant.replace(year=year, month=month, day=day)


def legal_deadline(received_at: datetime, extension_months: int = 0) -> datetime:
    """One calendar month from receipt, plus any extension."""
    if received_at.tzinfo is None:
        raise ValueError("received_at must be timezone-aware")
    return add_months(received_at, 1 + extension_months)


def check_extension(extended_so_far: int, months: int, reason: str, state: str,
                    deadline_passed: bool) -> None:
    """An extension: 1 or 2 months, at most 2 in all, with a reason, decided before the
    answer and before the deadline (the person must be told within the first month)."""
    if state in CLOSED_STATES:
        raise RequestRefused("months", "la demande est déjà close")
    if deadline_passed:
        raise RequestRefused("months", "l'échéance est passée : la prolongation devait être "
                             "décidée et communiquée avant")
    if months < 1 or extended_so_far + months > MAX_EXTENSION_MONTHS:
        raise RequestRefused(
            "months", f"prolongation de {MAX_EXTENSION_MONTHS} mois au plus au total "
            f"(déjà {extended_so_far})")
    if not reason.strip():
        raise RequestRefused("reason", "le motif communiqué à la personne est obligatoire")


@dataclass(frozen=True)
class Notice:
    """An email the clock sends: which one and when."""

    name: str
    at: datetime


def notices(deadline: datetime) -> list[Notice]:
    """The reminders before ``deadline`` and the escalation once it passes, in order."""
    return [*(Notice(t, deadline - before) for t, before in REMINDERS_BEFORE),
            Notice(ESCALATION, deadline)]


def next_notice(deadline: datetime, now: datetime, sent: set[str]) -> tuple[Notice | None, bool]:
    """The next notice not yet sent for this deadline, and whether it is due now. Notices go
    out in order, each once, even a little late (the previous one took time)."""
    pending = [n for n in notices(deadline) if n.name not in sent]
    if not pending:
        return None, False
    return pending[0], pending[0].at <= now


def overdue_when_known(deadline: datetime, now: datetime) -> set[str]:
    """Notices never to send for a deadline known only now (a request recorded late): of
    those already overdue only the last goes out (one reminder, not two)."""
    overdue = [n.name for n in notices(deadline) if n.at <= now]
    return set(overdue[:-1])


def validate_corrections(corrections: dict[str, str]) -> dict[str, str]:
    """A rectification's corrections: known person fields, values stripped; an ISO birth date."""
    if not corrections:
        raise RequestRefused("corrections", "au moins une correction est attendue")
    clean: dict[str, str] = {}
    for name, value in corrections.items():
        if name not in RECTIFIABLE_FIELDS:
            raise RequestRefused("corrections", f"champ non rectifiable : {name}")
        text = str(value).strip()
        if not text and name in ("birth_name", "first_names", "birth_date"):
            raise RequestRefused("corrections", f"valeur vide pour {name}")
        if name == "birth_date":
            try:
                date.fromisoformat(text)
            except ValueError:
                raise RequestRefused("corrections", "date de naissance attendue AAAA-MM-JJ") from None
        clean[name] = text
    return clean


@dataclass(frozen=True)
class DossierStatus:
    """What an erasure decision reads of each of the person's dossiers."""

    dossier_id: str
    state: str


def erasure_refusal(dossiers: list[DossierStatus]) -> str | None:
    """The legal ground for refusing erasure, or None when the person's data may be erased."""
    for dossier in dossiers:
        if dossier.state in FUNDED_STATES:
            return RETENTION_GROUND.format(dossier=dossier.dossier_id)
    for dossier in dossiers:
        if dossier.state not in CLOSED_DOSSIER_STATES:
            return OPEN_DOSSIER_GROUND.format(dossier=dossier.dossier_id)
    return None


def retention_cutoff(now: datetime, retention_days: int) -> datetime:
    """Dossiers closed before this instant have their personal data crypto-erased."""
    if retention_days < 1:
        raise ValueError("retention_days must be at least 1")
    return now - timedelta(days=retention_days)
