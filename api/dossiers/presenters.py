"""Projection rows and workflow views turned into API answers."""

from __future__ import annotations

from api.dossiers.schemas import (
    ActionOut,
    CorrectionOut,
    DossierDetail,
    DossierStateOut,
    DossierSummary,
    FunderOut,
    PersonOut,
    TimelineEntryOut,
)
from contracts.dossier import DossierView
from state_models.dossier import events_when_closed
from state_models.funders import label
from state_models.validators import mask_nir, mask_nirs
from store.models import Dossier
from store.person_fields import PersonFields


def summary_of(row: Dossier, fields: PersonFields) -> DossierSummary:
    p = fields.open(row.person)
    return DossierSummary(dossier_id=row.id, state=row.state, birth_name=p.birth_name,
                          usage_name=p.usage_name, first_names=p.first_names, siret=row.siret,
                          title=row.title, entry_date=row.entry_date,
                          agora_dossier_id=row.agora_dossier_id, created_at=row.created_at)


def detail_of(row: Dossier, view: DossierView | None, fields: PersonFields) -> DossierDetail:
    """The stored data; state and allowed events from the workflow when it answered."""
    p = fields.open(row.person)
    corrections: dict[int, list[CorrectionOut]] = {}
    for c in row.corrections:
        corrections.setdefault(c.seq, []).append(CorrectionOut(
            field=c.field, before=_masked(fields.open_correction(c, c.before)),
            after=_masked(fields.open_correction(c, c.after))))
    return DossierDetail(
        dossier_id=row.id,
        state=view.state if view else row.state,
        live=view is not None,
        registered=(view.registered if view else row.agora_dossier_id is not None),
        agora_dossier_id=view.agora_dossier_id if view else row.agora_dossier_id,
        registration_fault=view.registration_fault if view else row.registration_fault,
        entry_date=view.entry_date if view else row.entry_date,
        manager=row.manager,
        # A settled dossier's workflow has ended, and its corrections go another way.
        allowed_events=[*view.allowed_events, *events_when_closed(view.state)] if view else [],
        person=PersonOut(nir_masked=mask_nir(fields.nir(row.person)),
                         birth_name=p.birth_name, usage_name=p.usage_name,
                         first_names=p.first_names, birth_date=p.birth_date, sex=p.sex,
                         email=p.email, phone=p.phone),
        action=ActionOut(siret=row.siret, action_id=row.action_id, title=row.title,
                         duration_hours=row.duration_hours, start_date=row.start_date,
                         end_date=row.end_date, certification_code=row.certification_code,
                         purchase_mode=row.purchase_mode, price=row.price,
                         funders=[FunderOut(code=f["code"], label=label(f["code"]),
                                            share=f["share"]) for f in row.funders or []]),
        timeline=[TimelineEntryOut(seq=t.seq, event=t.event, at=t.at, acting_user=t.acting_user,
                                   operation=t.operation, outcome=t.outcome, state_after=t.state_after,
                                   ack_id=t.ack_id, fault_code=t.fault_code, message=t.message,
                                   corrections=corrections.get(t.seq, []))
                  for t in row.timeline],
        link_waits=view.link_waits if view else [],
        emails=view.emails if view else [],
        restricted=view.restricted if view else "",
        # Written by the AGORA activity with the step: shown even when the workflow is not asked.
        entry_situation=dict(row.entry_situation or {}),
        exit_reason_code=row.exit_reason_code,
    )


def state_of(view: DossierView) -> DossierStateOut:
    return DossierStateOut(
        dossier_id=view.dossier_id, state=view.state, registered=view.registered,
        agora_dossier_id=view.agora_dossier_id, registration_fault=view.registration_fault,
        entry_date=view.entry_date, allowed_events=view.allowed_events,
        timeline=[TimelineEntryOut(seq=e.seq, event=e.event, at=e.at, acting_user=e.acting_user,
                                   operation=e.operation, outcome=e.outcome, state_after=e.state_after,
                                   ack_id=e.ack_id, fault_code=e.fault_code, message=e.message)
                  for e in view.history],
        link_waits=view.link_waits, emails=view.emails)


def _masked(value: str | None) -> str | None:
    return mask_nirs(value) if value else value
