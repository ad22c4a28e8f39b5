"""The JSON API of AGORA's consultations: a dossier holder's rights (1), other dossiers (2),
balances (12), eligibility for the dossier's action (13), the DIF balance record (14), and
the look-up of an AGORA dossier by its identifier (3).

The holder is named by the Region dossier, never by a NIR in the URL (addresses end up in
logs). Each answer says when AGORA gave it and whether it came from the short cache.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from agora.operations import FAULT_UNKNOWN_DOSSIER
from api.agora.schemas import (
    AGORA_ID_PATTERN,
    BalancesOut,
    DifBalanceIn,
    DifRecordedOut,
    EligibilityOut,
    FoundDossierOut,
    HolderDossiersOut,
    RightsOut,
    balances_of,
    dif_recorded_of,
    eligibility_of,
    found_dossier_of,
    holder_dossiers_of,
    rights_of,
)
from api.agora.service import consult, consult_holder, holder_of
from api.auth import context, requires
from api.context import AppContext
from api.dossiers.schemas import ErrorOut
from api.errors import Refused
from api.idempotency import request_identity
from contracts import agora_reads as reads
from store.models import User

router = APIRouter(prefix="/api", tags=["agora"])

Ctx = Annotated[AppContext, Depends(context)]
Reader = Annotated[User, Depends(requires("agora:read"))]
DifWriter = Annotated[User, Depends(requires("agora:dif"))]
DossierId = Annotated[str, Path(max_length=64, description="Identifiant du dossier (Région)")]
AgoraId = Annotated[str, Path(pattern=AGORA_ID_PATTERN, description="Identifiant du dossier AGORA")]

ANSWERS = {
    401: {"model": ErrorOut, "description": "Non authentifié"},
    403: {"model": ErrorOut, "description": "Rôle insuffisant"},
    404: {"model": ErrorOut, "description": "Dossier inconnu (de la Région, ou d'AGORA)"},
    502: {"model": ErrorOut, "description": "AGORA a refusé (code de faute AGORA)"},
    503: {"model": ErrorOut, "description": "Temporal indisponible"},
    504: {"model": ErrorOut, "description": "AGORA n'a pas répondu à temps (maintenance, "
          "coupure, panne) ; la consultation est abandonnée"},
}


@router.get("/dossiers/{dossier_id}/agora/rights", response_model=RightsOut, responses=ANSWERS)
async def rights(dossier_id: DossierId, user: Reader, ctx: Ctx) -> RightsOut:
    """The holder's training rights (operation 1: CPF and DIF hours)."""
    consulted = await consult_holder(ctx, user, reads.RIGHTS, holder_of(ctx, dossier_id))
    return rights_of(consulted.answer, consulted.from_cache)


@router.get("/dossiers/{dossier_id}/agora/balances", response_model=BalancesOut, responses=ANSWERS)
async def balances(dossier_id: DossierId, user: Reader, ctx: Ctx) -> BalancesOut:
    """The holder's account balances (operation 12: CPF in euros, DIF in hours)."""
    consulted = await consult_holder(ctx, user, reads.BALANCES, holder_of(ctx, dossier_id))
    return balances_of(consulted.answer, consulted.from_cache)


@router.get("/dossiers/{dossier_id}/agora/eligibility", response_model=EligibilityOut,
            responses=ANSWERS)
async def eligibility(dossier_id: DossierId, user: Reader, ctx: Ctx) -> EligibilityOut:
    """Whether the holder is eligible for this dossier's training action (operation 13),
    and AGORA's reason."""
    consulted = await consult_holder(ctx, user, reads.ELIGIBILITY, holder_of(ctx, dossier_id))
    return eligibility_of(consulted.answer, consulted.from_cache)


@router.get("/dossiers/{dossier_id}/agora/holder-dossiers", response_model=HolderDossiersOut,
            responses=ANSWERS)
async def holder_dossiers(dossier_id: DossierId, user: Reader, ctx: Ctx) -> HolderDossiersOut:
    """Every AGORA dossier of the holder, whoever the funder (operation 2)."""
    consulted = await consult_holder(ctx, user, reads.HOLDER_DOSSIERS, holder_of(ctx, dossier_id))
    return holder_dossiers_of(consulted.answer, consulted.from_cache)


@router.post("/dossiers/{dossier_id}/agora/dif-balance", response_model=DifRecordedOut,
             responses=ANSWERS)
async def record_dif(dossier_id: DossierId, payload: DifBalanceIn, user: DifWriter, ctx: Ctx,
                     request: Request) -> DifRecordedOut:
    """Record the holder's DIF balance at AGORA (operation 14). Send an ``Idempotency-Key``
    header: a resend with the same key is recorded once (AGORA sees the same request id)."""
    holder = holder_of(ctx, dossier_id)
    identity = request_identity(request)
    consulted = await consult(
        ctx, user, reads.RECORD_DIF,
        {"request_id": f"DIF-{identity.replace('-', '')}",
         "nir": holder.nir, "dif_hours": payload.dif_hours},
        dossier_id, identity)
    return dif_recorded_of(consulted.answer)


@router.get("/agora/dossiers/{agora_dossier_id}", response_model=FoundDossierOut, responses=ANSWERS)
async def find(agora_dossier_id: AgoraId, user: Reader, ctx: Ctx) -> FoundDossierOut:
    """An AGORA dossier by its identifier (operation 3), whichever funder declared it; 404 when
    AGORA does not know it (its fault code in ``code``)."""
    try:
        consulted = await consult(ctx, user, reads.FIND_DOSSIER,
                                  {"agora_dossier_id": agora_dossier_id})
    except Refused as refused:
        if refused.status == 502 and refused.code == FAULT_UNKNOWN_DOSSIER:
            raise Refused(404, refused.code, refused.message) from refused
        raise
    return found_dossier_of(consulted.answer, consulted.from_cache)
