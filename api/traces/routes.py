"""The trace log for authorised staff (SPEC §5): search and read AGORA exchanges (NIR masked),
and the audit journal. Every consultation is journaled — who, when, from where, the query and
the records shown — in the hash-chained audit journal before the answer leaves.

``traces:read`` is the auditor's alone; the journal is read by auditors and administrators.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import select

from api.auth import context, requires
from api.context import AppContext
from api.dossiers.schemas import ErrorOut
from api.pages import guarded, render, signed_in_user
from store.models import User
from store.trace_models import AuditRecord, LegalHold, TraceRecord, VectorRecord
from store.traces import TraceStore

api = APIRouter(prefix="/api", tags=["Traces and audit journal"])
pages = APIRouter(include_in_schema=False)

Ctx = Annotated[AppContext, Depends(context)]
TraceReader = Annotated[User, Depends(requires("traces:read"))]
JournalReader = Annotated[User, Depends(requires("audit:read"))]
ERRORS = {401: {"model": ErrorOut, "description": "Non authentifié"},
          403: {"model": ErrorOut, "description": "Rôle insuffisant"}}


def trace_store(request: Request) -> TraceStore:
    """One store per application, on the application's database."""
    state = request.app.state
    if getattr(state, "traces", None) is None:
        ctx: AppContext = state.context
        state.traces = TraceStore(ctx.settings, database=ctx.db)
    return state.traces


def _source(request: Request) -> str:
    return request.client.host if request.client else ""


class TraceFilters(BaseModel):
    dossier_id: str | None = None
    market_id: str | None = None
    operation: str | None = None
    outcome: str | None = None
    acting_user: str | None = None
    since: str | None = None
    until: str | None = None
    limit: int = 100
    offset: int = 0


class TraceOut(BaseModel):
    id: int
    sent_at: str
    received_at: str
    operation: str
    dossier_id: str | None
    market_id: str | None
    acting_user: str | None
    request_id: str | None
    # The API request (X-Request-Id) the call came from: the same id is in the log lines.
    correlation_id: str | None = None
    vector_id: str | None
    attempt: int
    http_status: int | None
    outcome: str
    fault_code: str
    digest: str
    purged: bool


class VectorOut(BaseModel):
    assertion_id: str
    subject: str
    pagm: list[str]
    issued_at: str
    not_before: str
    not_on_or_after: str


class TraceDetailOut(TraceOut):
    request_envelope: str
    response_envelope: str
    message: str
    vector: VectorOut | None


class AuditOut(BaseModel):
    id: int
    at: str
    username: str
    source: str
    action: str
    query: dict[str, Any]
    records: list[Any]
    digest: str


def _out(row: TraceRecord) -> TraceOut:
    return TraceOut(id=row.seq, sent_at=row.at, received_at=row.received_at,
                    operation=row.operation, dossier_id=row.dossier_id, market_id=row.market_id,
                    acting_user=row.acting_user, request_id=row.request_id,
                    correlation_id=row.correlation_id, vector_id=row.vector_id, attempt=row.attempt, http_status=row.http_status,
                    outcome=row.outcome, fault_code=row.fault_code, digest=row.digest,
                    purged=row.redacted_at is not None)


def search_traces(store: TraceStore, user: User, source: str, filters: TraceFilters
                  ) -> list[TraceOut]:
    limit = max(1, min(filters.limit, 500))
    query = filters.model_dump(exclude_none=True) | {"limit": limit}
    try:
        with store.reading() as session:
            rows = [_out(r) for r in store.search(
                session, **(query | {"offset": max(0, filters.offset)}))]
    except ValueError as error:  # a period that is not an ISO instant
        raise HTTPException(422, [{"loc": ["query", "since"], "type": "value_error",
                                   "msg": str(error)}]) from error
    store.journal(user.username, source, "traces.search", query, [r.id for r in rows])
    return rows


def read_trace(store: TraceStore, user: User, source: str, trace_id: int) -> TraceDetailOut:
    with store.reading() as session:
        row = session.get(TraceRecord, trace_id)
        if row is None:
            raise HTTPException(404, {"code": "UnknownTrace", "message": "Échange introuvable."})
        vector = (session.scalar(select(VectorRecord).where(
            VectorRecord.assertion_id == row.vector_id)) if row.vector_id else None)
    shown = store.envelopes(row)
    store.journal(user.username, source, "traces.read", {"id": trace_id},
                  [trace_id, *([f"vi:{vector.assertion_id}"] if vector else [])])
    return TraceDetailOut(
        **_out(row).model_dump(), request_envelope=shown["request"],
        response_envelope=shown["response"], message=shown["message"],
        vector=VectorOut(assertion_id=vector.assertion_id, subject=vector.subject,
                         pagm=vector.pagm.splitlines(), issued_at=vector.at,
                         not_before=vector.not_before, not_on_or_after=vector.not_on_or_after)
        if vector else None)


def read_journal(store: TraceStore, user: User, source: str, username: str | None,
                 limit: int, offset: int) -> list[AuditOut]:
    with store.reading() as session:
        query = select(AuditRecord)
        if username:
            query = query.where(AuditRecord.username == username)
        rows = list(session.scalars(query.order_by(AuditRecord.seq.desc())
                                    .limit(max(1, min(limit, 500))).offset(max(0, offset))))
    out = [AuditOut(id=r.seq, at=r.at, username=r.username, source=r.source, action=r.action,
                    query=json.loads(r.query), records=json.loads(r.records), digest=r.digest)
           for r in rows]
    store.journal(user.username, source, "audit.read",
                  {"username": username, "limit": limit, "offset": offset}, [r.id for r in out])
    return out


# --- JSON API ---------------------------------------------------------------------------


@api.get("/traces", response_model=list[TraceOut], responses=ERRORS)
def list_traces(request: Request, user: TraceReader,
                filters: Annotated[TraceFilters, Query()]) -> list[TraceOut]:
    """AGORA exchanges, newest first, by dossier, market, period (ISO instants), operation,
    outcome (acknowledged, fault, unavailable, error) or acting user. Journaled."""
    return search_traces(trace_store(request), user, _source(request), filters)


@api.get("/traces/{trace_id}", response_model=TraceDetailOut,
         responses={**ERRORS, 404: {"model": ErrorOut, "description": "Échange introuvable"}})
def get_trace(request: Request, user: TraceReader, trace_id: int) -> TraceDetailOut:
    """One exchange: its envelopes as sent and received (NIR masked) and its identity vector.
    Journaled."""
    return read_trace(trace_store(request), user, _source(request), trace_id)


@api.get("/audit-journal", response_model=list[AuditOut], responses=ERRORS)
def audit_journal(request: Request, user: JournalReader, username: str | None = None,
                  limit: int = 100, offset: int = 0) -> list[AuditOut]:
    """Who consulted the traces, when, from where, what and which records; newest first."""
    return read_journal(trace_store(request), user, _source(request), username, limit, offset)


# --- pages --------------------------------------------------------------------------------


@pages.get("/traces")
@guarded
async def traces_page(request: Request) -> Response:
    user = signed_in_user(request, "traces:read")
    params = {k: v for k, v in request.query_params.items() if v and k in TraceFilters.model_fields}
    filters = TraceFilters(**params)
    try:
        rows = search_traces(trace_store(request), user, _source(request), filters)
    except HTTPException as refused:
        return render(request, "traces.html", 422, user=user, rows=[], filters=filters,
                      error=f"Période invalide : {refused.detail[0]['msg']}")
    return render(request, "traces.html", user=user, rows=rows, filters=filters, error=None)


@pages.get("/traces/{trace_id}")
@guarded
async def trace_page(request: Request, trace_id: int) -> Response:
    user = signed_in_user(request, "traces:read")
    try:
        trace = read_trace(trace_store(request), user, _source(request), trace_id)
    except HTTPException:
        return render(request, "error.html", 404, user=user, title="Échange introuvable",
                      message=f"Aucun échange n° {trace_id}.")
    return render(request, "trace.html", user=user, trace=trace)


@pages.get("/journal-audit")
@guarded
async def journal_page(request: Request) -> Response:
    user = signed_in_user(request, "audit:read")
    username = request.query_params.get("utilisateur") or None
    rows = read_journal(trace_store(request), user, _source(request), username, 200, 0)
    return render(request, "audit_journal.html", user=user, rows=rows, username=username or "")


# --- legal holds --------------------------------------------------------------------------


class LegalHoldIn(BaseModel):
    reference: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    since: datetime
    until: datetime
    dossier_ids: list[Annotated[str, StringConstraints(max_length=64)]] = Field(
        default_factory=list, max_length=1000)


class ReleaseIn(BaseModel):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class LegalHoldOut(BaseModel):
    id: int
    reference: str
    reason: str
    since: str
    until: str
    dossier_ids: list[str]
    placed_by: str
    placed_at: datetime
    released_by: str | None
    released_at: datetime | None
    release_reason: str | None


def _hold_out(hold: LegalHold) -> LegalHoldOut:
    return LegalHoldOut(id=hold.id, reference=hold.reference, reason=hold.reason,
                        since=hold.starts_at, until=hold.ends_at,
                        dossier_ids=json.loads(hold.dossier_ids), placed_by=hold.placed_by,
                        placed_at=hold.placed_at, released_by=hold.released_by,
                        released_at=hold.released_at, release_reason=hold.release_reason)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


@api.post("/trace-holds", response_model=LegalHoldOut, status_code=201, responses=ERRORS)
def place_hold(request: Request, body: LegalHoldIn, user: TraceReader) -> LegalHoldOut:
    """Keep an incident's traces (its window, and the dossiers it concerns) past their
    retention, until released with a reason."""
    if body.until < body.since:
        raise HTTPException(422, [{"loc": ["body", "until"], "type": "value_error",
                                   "msg": "la fin précède le début"}])
    store = trace_store(request)
    hold_id = store.place_hold(body.reference, body.reason, _iso(body.since), _iso(body.until),
                               body.dossier_ids, user.username)
    store.journal(user.username, _source(request), "hold.place", body.model_dump(mode="json"),
                  [hold_id])
    with store.reading() as session:
        return _hold_out(session.get(LegalHold, hold_id))


@api.post("/trace-holds/{hold_id}/release", response_model=LegalHoldOut,
          responses={**ERRORS, 404: {"model": ErrorOut, "description": "Gel introuvable"},
                     409: {"model": ErrorOut, "description": "Gel déjà levé"}})
def release_hold(request: Request, hold_id: int, body: ReleaseIn, user: TraceReader) -> LegalHoldOut:
    store = trace_store(request)
    try:
        store.release_hold(hold_id, user.username, body.reason)
    except LookupError as error:
        raise HTTPException(404, {"code": "UnknownHold", "message": str(error)}) from error
    except ValueError as error:
        raise HTTPException(409, {"code": "AlreadyReleased", "message": str(error)}) from error
    store.journal(user.username, _source(request), "hold.release", {"reason": body.reason},
                  [hold_id])
    with store.reading() as session:
        return _hold_out(session.get(LegalHold, hold_id))


@api.get("/trace-holds", response_model=list[LegalHoldOut], responses=ERRORS)
def list_holds(request: Request, user: TraceReader) -> list[LegalHoldOut]:
    with trace_store(request).reading() as session:
        return [_hold_out(h) for h in session.scalars(select(LegalHold).order_by(LegalHold.id))]
