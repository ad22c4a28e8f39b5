"""The French pages for procurement markets, over the same service as the market API."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from api.auth import check_csrf, context, may
from api.errors import InvalidFields, Refused
from api.idempotency import request_identity
from api.markets.presenters import market_detail
from api.markets.schemas import MarketCreate
from api.markets.service import apply_market_event, create_market, load_market
from api.pages import PAGE_SIZE, guarded, read_form, render, signed_in_user, submit_creation
from state_models import market as model
from store.market_projection import list_markets
from store.models import User

router = APIRouter(include_in_schema=False)

TERMS_FIELDS = ("reference", "lot_number", "lot_title", "siret", "amount_excl_tax",
                "amount_incl_tax", "funding_source")
SESSION_FIELDS = ("session_id", "places", "start_date", "end_date")
SESSION_ROWS = 5  # session rows on the creation form; empty ones are ignored


def _globals() -> dict[str, Any]:
    return {"MARKET_EVENT_FIELDS": model.EVENT_FIELDS, "MARKET_DATE_FIELDS": model.DATE_FIELDS,
            "MARKET_STATES": model.STATES, "SESSION_ROWS": SESSION_ROWS}


@router.get("/marches")
@guarded
async def markets(request: Request) -> Response:
    user = signed_in_user(request, "markets:read")
    params = request.query_params
    state = params.get("state") if params.get("state") in model.STATES else None
    page = int(params["page"]) if params.get("page", "").isdigit() and int(params["page"]) > 0 else 1
    with context(request).db.sessions() as session:
        rows, total = list_markets(session, state, page, PAGE_SIZE)
    return render(request, "markets.html", user=user, rows=rows, total=total, page=page,
                   pages=max(1, -(-total // PAGE_SIZE)), state=state,
                   can_create=may(user, "markets:write"), **_globals())


@router.get("/marches/nouveau")
@guarded
async def new_market_page(request: Request) -> Response:
    user = signed_in_user(request, "markets:write")
    return render(request, "market_new.html", user=user, values={"funding_source": "region"},
                   errors={}, **_globals())


def _create_payload(form: dict[str, str]) -> dict[str, Any]:
    payload: dict[str, Any] = {name: form.get(name, "").strip() for name in TERMS_FIELDS}
    sessions = []
    for row in range(1, SESSION_ROWS + 1):
        values = {name: form.get(f"{name}_{row}", "").strip() for name in SESSION_FIELDS}
        if any(values.values()):
            sessions.append(values)
    payload["sessions"] = sessions
    return payload


def _form_field(loc: tuple[Any, ...]) -> str:
    """An error's location as the form's field name: ("sessions", 0, "places") → places_1."""
    parts = [str(p) for p in loc if p != "body"]
    if len(parts) == 3 and parts[0] == "sessions" and parts[1].isdigit():
        return f"{parts[2]}_{int(parts[1]) + 1}"
    return parts[0] if parts else "form"


@router.post("/marches/nouveau")
@guarded
async def new_market(request: Request) -> Response:
    user = signed_in_user(request, "markets:write")
    form = await read_form(request)
    market_id, errors = await submit_creation(request, form, lambda: create_market(
        context(request), user, MarketCreate.model_validate(_create_payload(form)),
        request_identity(request)), _form_field)
    if market_id:
        return RedirectResponse(f"/marches/{quote(market_id)}?fait=create", status_code=303)
    return render(request, "market_new.html", 422, user=user, values=form, errors=errors,
                  **_globals())


async def _market_page(request: Request, user: User, market_id: str, status_code: int = 200,
                       **values: Any) -> Response:
    try:
        row, view = await load_market(context(request), market_id)
    except Refused as refused:
        return render(request, "error.html", refused.status, user=user, title="Marché introuvable",
                       message=refused.message)
    return render(request, "market.html", status_code, user=user, m=market_detail(row, view),
                   can_write=may(user, "markets:write"), done=request.query_params.get("fait"),
                   **_globals(), **values)


@router.get("/marches/{market_id}")
@guarded
async def market_page(request: Request, market_id: str) -> Response:
    user = signed_in_user(request, "markets:read")
    return await _market_page(request, user, market_id)


@router.post("/marches/{market_id}/evenements/{event}")
@guarded
async def send_event(request: Request, market_id: str, event: str) -> Response:
    user = signed_in_user(request, "markets:write")
    form = await read_form(request)
    if event not in model.EVENTS:
        return render(request, "error.html", 404, user=user, title="Événement inconnu", message=event)
    if not check_csrf(request, form.get("csrf", "")):
        return await _market_page(request, user, market_id, 400, error="Formulaire expiré.")
    required, optional = model.EVENT_FIELDS[event]
    data = {name: form[name].strip() for name in required + optional if form.get(name, "").strip()}
    try:
        await apply_market_event(context(request), user, market_id, event, data,
                                 request_identity(request))
    except InvalidFields as invalid:
        return await _market_page(request, user, market_id, 422, open_event=event, values=form,
                                  field_errors={loc[-1]: message for loc, message in invalid.errors},
                                  error="Le formulaire contient des erreurs.")
    except Refused as refused:
        prefix = {409: "Événement impossible dans l'état actuel du marché",
                  502: f"AGORA a refusé l'opération (code {refused.code})"}.get(refused.status, "Échec")
        return await _market_page(request, user, market_id, refused.status,
                                  error=f"{prefix} : {refused.message}")
    return RedirectResponse(f"/marches/{quote(market_id)}?fait={event}", status_code=303)
