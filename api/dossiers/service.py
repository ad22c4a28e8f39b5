"""What the API and the UI both do: check, create, send events, read; errors as exceptions.

Only temporal_client/ talks to Temporal; nothing here talks to AGORA or writes the store.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from temporalio.client import WorkflowQueryFailedError, WorkflowQueryRejectedError
from temporalio.service import RPCError

from agora.messages import Funder, Person, TrainingAction, region_funders
from api.context import AppContext, TemporalUnreachable
from api.dossiers.schemas import DossierCreate
from api.errors import InvalidFields, Refused
from api.events import send
from api.markets.service import release_for_dossier, reserve_for_dossier
from contracts.dossier import (
    DossierInput,
    DossierView,
    EventRequest,
    HistoryEntry,
    MarketLink,
    SettledCorrection,
)
from contracts.subject_request import RESTRICTED
from state_models.dossier import events_when_closed
from state_models.funders import validate_funders
from state_models.validators import (
    ValidationError,
    validate_amount,
    validate_date,
    validate_date_order,
    validate_nir,
    validate_siret,
)
from store.exactly_once import claim_dossier, release_dossier_claim
from store.models import Dossier, User
from store.queries import get_dossier, person_hash_of
from store.subject_requests import restriction_of
from temporal_client.dossiers import correct_settled_dossier, send_event, view_dossier
from temporal_client.dossiers import create_dossier as start_dossier
from temporal_client.markets import dossier_started

# 409: the person already has an open dossier on this training action.
DOSSIER_EXISTS = "DossierExists"
SETTLED = "settled"
# A page waits this long at most for the workflow's live view.
LIVE_VIEW_TIMEOUT_SECONDS = 10.0


def check_create(payload: DossierCreate) -> tuple[Person, TrainingAction]:
    """Every business rule of a new dossier; all failing fields are reported at once."""
    errors: list[tuple[tuple[str, ...], str]] = []

    def check(loc: tuple[str, ...], validate, *args):  # type: ignore[no-untyped-def]
        try:
            return validate(*args)
        except ValidationError as invalid:
            errors.append((("body", *loc), invalid.reason))
            return None

    p, a = payload.person, payload.action
    nir = check(("person", "nir"), validate_nir, p.nir)
    birth = check(("person", "birth_date"), validate_date, p.birth_date, "birth_date")
    siret = check(("action", "siret"), validate_siret, a.siret)
    start = check(("action", "start_date"), validate_date, a.start_date, "start_date")
    end = check(("action", "end_date"), validate_date, a.end_date, "end_date")
    price = check(("action", "price"), validate_amount, a.price, "price") if a.price is not None else None
    if start and end:
        check(("action", "end_date"), validate_date_order, start, end, "start_date", "end_date")
    funders = region_funders()  # the Region's own programme, unless the payload names them
    if a.funders is not None:
        clean = check(("action", "funders"), validate_funders, [f.model_dump() for f in a.funders])
        funders = [Funder(code, share) for code, share in clean or []]
    if nir and nir[0] in "12" and nir[0] != p.sex:
        errors.append((("body", "person", "sex"), "Le sexe ne correspond pas au premier chiffre du NIR."))
    if errors:
        raise InvalidFields(errors)
    person = Person(nir=nir, birth_name=p.birth_name, first_names=p.first_names,
                    birth_date=birth.isoformat(), sex=p.sex, usage_name=p.usage_name or None,
                    email=p.email or None, phone=p.phone or None)
    action = TrainingAction(siret=siret, action_id=a.action_id, title=a.title,
                            duration_hours=a.duration_hours, start_date=start.isoformat(),
                            end_date=end.isoformat(), certification_code=a.certification_code or None,
                            purchase_mode=a.purchase_mode, price=str(price) if price else None,
                            funders=funders)
    return person, action


async def create_dossier(ctx: AppContext, user: User, payload: DossierCreate,
                         identity: str = "") -> DossierView:
    """Claim the person on the action (409 naming the open dossier holding it), reserve the
    market place, start the workflow: a saga whose steps are undone if the start fails.
    ``identity`` (from the request's idempotency key) makes a retry the same dossier."""
    person, action = check_create(payload)
    dossier_id = dossier_id_for(identity)
    market = _market_link(payload)
    dossier = DossierInput(dossier_id=dossier_id, person=person, action=action,
                           acting_user=user.username, retry=ctx.retry, link=ctx.link,
                           escalation=ctx.escalation_for(f"/dossiers/{dossier_id}", user.username), market=market)
    _refuse_if_restricted(ctx, ctx.cipher.lookup_hash(person.nir))
    _claim(ctx, dossier_id, person, action)
    try:
        if market is not None:
            # The place next: a refused place (409 naming the session) starts nothing.
            await reserve_for_dossier(ctx, market.market_id, market.session_id, dossier_id)
    except BaseException:
        _release_claim(ctx, dossier_id)
        raise
    try:
        client = await ctx.temporal()
    except TemporalUnreachable:
        _release_claim(ctx, dossier_id)  # nothing started; a reserved place needed Temporal
        raise
    try:
        # The workflow stores the dossier (its first AGORA activity writes the row) before
        # it answers: the user's next page finds it.
        return await send(start_dossier(client, dossier, ctx.settings.task_queue),
                          "dossier", "creation")
    except Refused as refused:
        if refused.status == 503:
            await _undo_unless_started(ctx, dossier_id, market)
        elif refused.status == 504:  # created and stored; AGORA has not answered yet
            refused.extra["dossier_id"] = dossier_id
        raise


async def _undo_unless_started(ctx: AppContext, dossier_id: str, market: MarketLink | None) -> None:
    """The start failed: if the dossier's workflow does not exist, give back its place and
    its claim. When Temporal cannot say, the reconciliation schedule frees the place, and a
    claim with no stored dossier gives way after ``CLAIM_GRACE``."""
    try:
        if await dossier_started(await ctx.temporal(), dossier_id):
            return
    except (RPCError, TemporalUnreachable):
        return
    if market is not None:
        await release_for_dossier(ctx, market.market_id, dossier_id)
    _release_claim(ctx, dossier_id)


def dossier_id_for(identity: str) -> str:
    """A dossier id derived from the creation request's identity (a retried request is the
    same dossier), or a fresh one."""
    source = uuid.UUID(identity) if identity else uuid.uuid4()
    return f"D-{source.hex[:12].upper()}"


def _claim(ctx: AppContext, dossier_id: str, person: Person, action: TrainingAction) -> None:
    """One person on one training action is one open Region dossier (enforced by the
    database's unique constraint, so two concurrent creations make one dossier)."""
    with ctx.db.sessions.begin() as session:
        holder = claim_dossier(session, dossier_id, ctx.cipher.lookup_hash(person.nir),
                               action.siret, action.action_id, action.start_date)
    if holder is not None:
        raise Refused(409, DOSSIER_EXISTS,
                      f"Cette personne a déjà un dossier ouvert sur cette action de formation : {holder}.",
                      {"dossier_id": holder})


def _refuse_if_restricted(ctx: AppContext, nir_hash: str, event: str | None = None) -> None:
    """A restriction of processing (GDPR art. 18) in force on the person, found by the keyed
    hash of their NIR, refuses a new dossier of theirs and any event but a correction, even
    on a dossier the restriction's signals never reached (created meanwhile)."""
    if event == "reengineer":
        return  # a rectification is what a restriction waits for (art. 18.1.a)
    with ctx.db.sessions() as session:
        request_id = restriction_of(session, nir_hash)
    if request_id is None:
        return
    reason = f"demande RGPD {request_id}"
    what = ("aucun nouveau dossier ne peut être ouvert pour cette personne" if event is None
            else "aucun événement n'est accepté sur ce dossier")
    raise Refused(409, RESTRICTED,
                  f"Traitement limité (RGPD art. 18) : {reason} ; {what} tant que la limitation "
                  "est en vigueur.", {"reason": reason})


def _release_claim(ctx: AppContext, dossier_id: str) -> None:
    with ctx.db.sessions.begin() as session:
        release_dossier_claim(session, dossier_id)


def _market_link(payload: DossierCreate) -> MarketLink | None:
    """The dossier's market session: both named, or neither."""
    if payload.market_id is None and payload.session_id is None:
        return None
    missing = [name for name in ("market_id", "session_id") if getattr(payload, name) is None]
    if missing:
        raise InvalidFields([(("body", name), "le marché et la session vont ensemble")
                             for name in missing])
    assert payload.market_id is not None and payload.session_id is not None
    return MarketLink(payload.market_id, payload.session_id)


async def apply_event(ctx: AppContext, user: User, dossier_id: str, event: str,
                      data: dict[str, Any], event_id: str = "") -> DossierView:
    """One round trip: the workflow's answer is the dossier's new view (its AGORA activity
    has already projected it for the pages). ``event_id`` is the request's identity: the
    workflow applies it once, whatever the number of resends."""
    with ctx.db.sessions() as session:
        nir_hash = person_hash_of(session, dossier_id)
    if nir_hash is not None:
        _refuse_if_restricted(ctx, nir_hash, event)
    request = EventRequest(event=event, acting_user=user.username, data=data,
                           event_id=event_id or str(uuid.uuid4()))
    if event in events_when_closed(SETTLED):
        correction = _settled_correction(ctx, dossier_id, request)
        if correction is not None:
            return await send(correct_settled_dossier(await ctx.temporal(), correction,
                                                      ctx.settings.task_queue),
                              "dossier", event)
    return await send(send_event(await ctx.temporal(), dossier_id, request), "dossier", event)


def _settled_correction(ctx: AppContext, dossier_id: str,
                        request: EventRequest) -> SettledCorrection | None:
    """A correction of a settled dossier, from the dossier as stored (its workflow has ended);
    None when the dossier is not settled (its own workflow takes the event)."""
    with ctx.db.sessions() as session:
        row = get_dossier(session, dossier_id)
        if row is None or row.state != SETTLED or row.agora_dossier_id is None:
            return None
        p = ctx.fields.open(row.person)
        person = Person(nir=ctx.fields.nir(row.person),
                        birth_name=p.birth_name, first_names=p.first_names,
                        birth_date=p.birth_date, sex=p.sex, usage_name=p.usage_name,
                        email=p.email, phone=p.phone)
        action = TrainingAction(siret=row.siret, action_id=row.action_id, title=row.title,
                                duration_hours=row.duration_hours, start_date=row.start_date,
                                end_date=row.end_date, certification_code=row.certification_code,
                                purchase_mode=row.purchase_mode, price=row.price,
                                funders=[Funder(f["code"], f["share"]) for f in row.funders or []])
        history = [HistoryEntry(seq=t.seq, event=t.event, at=t.at, acting_user=t.acting_user,
                                operation=t.operation, request_id=t.request_id,
                                outcome=t.outcome, state_after=t.state_after, ack_id=t.ack_id,
                                fault_code=t.fault_code, message=t.message)
                   for t in row.timeline]
        seq = max([row.last_seq, *(t.seq for t in row.timeline)]) + 1
        dossier = DossierInput(dossier_id=row.id, person=person, action=action,
                               acting_user=row.manager, retry=ctx.retry, link=ctx.link)
        return SettledCorrection(dossier, row.agora_dossier_id, row.entry_date, seq, request,
                                 history, entry_situation=dict(row.entry_situation or {}),
                                 exit_reason_code=row.exit_reason_code)


async def load_dossier(ctx: AppContext, dossier_id: str) -> tuple[Dossier, DossierView | None]:
    """The stored dossier and, when its workflow answers, its live view (held calls, emails,
    allowed events); the page renders from the store alone otherwise."""
    with ctx.db.sessions() as session:
        row = get_dossier(session, dossier_id)
        if row is None:
            raise Refused(404, "UnknownDossier", f"Dossier inconnu : {dossier_id}")
        _ = row.timeline  # loaded before the session closes
    try:
        view: DossierView | None = await asyncio.wait_for(
            view_dossier(await ctx.temporal(), dossier_id), LIVE_VIEW_TIMEOUT_SECONDS)
    except (RPCError, WorkflowQueryFailedError, WorkflowQueryRejectedError, TimeoutError,
            TemporalUnreachable):
        view = None
    return row, view
