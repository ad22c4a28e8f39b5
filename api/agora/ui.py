"""Pages of AGORA's consultations: the look-up of an AGORA dossier by its identifier, and the
DIF balance form of a dossier's page (the other consultations are shown on the dossier's
page itself, ``api/dossiers/ui.py``)."""

from __future__ import annotations

import re
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from api.agora.schemas import AGORA_ID_PATTERN, DIF_MAX_HOURS, found_dossier_of
from api.agora.service import consult, holder_of
from api.auth import check_csrf, context
from api.dossiers.ui import render_dossier_page
from api.errors import Refused
from api.idempotency import request_identity
from api.pages import guarded, read_form, render, signed_in_user
from contracts import agora_reads as reads

router = APIRouter(include_in_schema=False)


@router.get("/agora/recherche")
@guarded
async def search_page(request: Request) -> Response:
    user = signed_in_user(request, "agora:read")
    wanted = request.query_params.get("id", "").strip()
    found, error = None, ""
    invalid = bool(wanted) and re.fullmatch(AGORA_ID_PATTERN, wanted) is None
    if wanted:
        if invalid:
            error = ("Identifiant AGORA invalide : 64 caractères au plus, lettres, chiffres, "
                     "points, tirets ou deux-points.")
        else:
            try:
                consulted = await consult(context(request), user, reads.FIND_DOSSIER,
                                          {"agora_dossier_id": wanted})
                found = found_dossier_of(consulted.answer, consulted.from_cache)
            except Refused as refused:
                error = (f"AGORA a refusé (code {refused.code}) : {refused.message}"
                         if refused.status == 502 else refused.message)
    return render(request, "agora_search.html", 422 if invalid else 200,
                  user=user, wanted=wanted, found=found, error=error)


@router.post("/dossiers/{dossier_id}/agora/solde-dif")
@guarded
async def record_dif(request: Request, dossier_id: str) -> Response:
    user = signed_in_user(request, "agora:dif")
    form = await read_form(request)
    if not check_csrf(request, form.get("csrf", "")):
        return await render_dossier_page(request, user, dossier_id, 400, error="Formulaire expiré.")
    raw = form.get("dif_hours", "").strip()
    if not raw.isdigit() or int(raw) > DIF_MAX_HOURS:
        return await render_dossier_page(
            request, user, dossier_id, 422, show_agora=True,
            field_errors={"dif_hours": f"un nombre entier d'heures, de 0 à {DIF_MAX_HOURS}"},
            error="Le formulaire contient des erreurs.")
    holder = holder_of(context(request), dossier_id)
    identity = request_identity(request)
    try:
        await consult(context(request), user, reads.RECORD_DIF,
                      {"request_id": f"DIF-{identity.replace('-', '')}", "nir": holder.nir,
                       "dif_hours": int(raw)}, dossier_id, identity)
    except Refused as refused:
        prefix = f"AGORA a refusé (code {refused.code}) : " if refused.status == 502 else ""
        return await render_dossier_page(request, user, dossier_id, refused.status,
                                         show_agora=True, error=f"{prefix}{refused.message}")
    return RedirectResponse(f"/dossiers/{quote(dossier_id)}?agora=1&fait=dif", status_code=303)
