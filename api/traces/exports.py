"""Trace exports (SPEC §5: produced within 15 calendar days): a request recorded by an
authorised user starts a durable workflow; the files are downloaded as one zip, which counts
as delivery. Requesting and downloading are journaled."""

from __future__ import annotations

import io
import uuid
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field, StringConstraints

from api.auth import check_csrf, context, requires
from api.context import AppContext
from api.idempotency import request_identity
from api.pages import guarded, read_form, render, signed_in_user
from api.traces.routes import ERRORS, _source, trace_store
from contracts.trace_export import DELIVERED, READY, TraceExportRequest, TraceExportView
from store.models import User
from temporal_client import traces as trace_commands

api = APIRouter(prefix="/api", tags=["Traces and audit journal"])
pages = APIRouter(include_in_schema=False)

Ctx = Annotated[AppContext, Depends(context)]
TraceReader = Annotated[User, Depends(requires("traces:read"))]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class TraceExportIn(BaseModel):
    requester: Text = Field(description="Qui demande : la CDC, une autorité…")
    reference: Text = Field(description="La référence de la demande")
    dossier_ids: list[Annotated[str, StringConstraints(max_length=64)]] = Field(
        default_factory=list, max_length=1000)
    vector_ids: list[Annotated[str, StringConstraints(max_length=80)]] = Field(
        default_factory=list, max_length=1000)
    since: datetime | None = Field(None, description="Début de période (instant ISO avec fuseau)")
    until: datetime | None = Field(None, description="Fin de période (instant ISO avec fuseau)")


def _request(ctx: AppContext, body: TraceExportIn, user: User, identity: str) -> TraceExportRequest:
    if not (body.dossier_ids or body.vector_ids or body.since or body.until):
        raise HTTPException(422, [{"loc": ["body", "dossier_ids"], "type": "value_error",
                                   "msg": "indiquer des dossiers, des vecteurs ou une période"}])
    contacts = ctx.contacts
    officer = contacts.security_officer.email if contacts and contacts.security_officer else ""
    iso = (lambda v: v.astimezone(UTC).isoformat(timespec="microseconds") if v else None)
    return TraceExportRequest(
        export_id=uuid.UUID(identity).hex[:12], requester=body.requester, reference=body.reference,
        recorded_by=user.username, requested_at=datetime.now(UTC).isoformat(),
        dossier_ids=body.dossier_ids, vector_ids=body.vector_ids,
        since=iso(body.since), until=iso(body.until), security_officer_email=officer,
        escalation_emails=[c.email for c in (contacts.escalation if contacts else [])],
        page_url=f"{ctx.settings.public_url}/exports-traces",
        partner_name=contacts.partner_name if contacts else ctx.settings.partner_id)


async def request_export(request: Request, ctx: AppContext, body: TraceExportIn,
                         user: User) -> TraceExportView:
    # The id comes from the request's idempotency key or form token: a retry of a request
    # whose answer was lost is the same export, not a second one.
    export = _request(ctx, body, user, request_identity(request))
    trace_store(request).journal(user.username, _source(request), "export.request",
                                 body.model_dump(mode="json"), [export.export_id])
    return await trace_commands.start_trace_export(await ctx.temporal(), ctx.settings.task_queue,
                                                   export)


@api.post("/trace-exports", response_model=TraceExportView, status_code=201, responses=ERRORS)
async def create_export(request: Request, body: TraceExportIn, user: TraceReader,
                        ctx: Ctx) -> TraceExportView:
    """Record a trace request: its export is produced at once and due within 15 days."""
    return await request_export(request, ctx, body, user)


async def _exports(ctx: AppContext) -> list[TraceExportView]:
    """This deployment's trace exports (those of its task queue)."""
    return await trace_commands.list_trace_exports(await ctx.temporal(), ctx.settings.task_queue)


@api.get("/trace-exports", response_model=list[TraceExportView], responses=ERRORS)
async def list_exports(request: Request, user: TraceReader, ctx: Ctx) -> list[TraceExportView]:
    """Every trace request, its state, deadline and files."""
    views = await _exports(ctx)
    trace_store(request).journal(user.username, _source(request), "export.list", {},
                                 [v.request.export_id for v in views])
    return views


@api.get("/trace-exports/{export_id}/archive", responses=ERRORS)
async def download_export(request: Request, export_id: str, user: TraceReader,
                          ctx: Ctx) -> Response:
    """The export as a zip (XML, manifest, signature, certificate); marks it delivered."""
    return await _download(request, ctx, export_id, user)


async def _download(request: Request, ctx: AppContext, export_id: str, user: User) -> Response:
    client = await ctx.temporal()
    try:
        view = await trace_commands.trace_export_view(client, export_id)
    except Exception as error:  # unknown workflow id
        raise HTTPException(404, {"code": "UnknownExport", "message": "Export introuvable."}) from error
    if view.state not in (READY, DELIVERED) or view.files is None:
        raise HTTPException(409, {"code": "NotReady", "message": "L'export n'est pas encore produit."})
    trace_store(request).journal(user.username, _source(request), "export.download",
                                 {"export_id": export_id}, [export_id])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(view.files.digests):
            archive.write(Path(view.files.folder) / name, name)
        archive.write(Path(view.files.folder) / "manifest.sig", "manifest.sig")
    await trace_commands.deliver_trace_export(client, export_id, user.username)
    return Response(buffer.getvalue(), media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="traces-{export_id}.zip"'})


@pages.get("/exports-traces")
@guarded
async def exports_page(request: Request) -> Response:
    user = signed_in_user(request, "traces:read")
    ctx: AppContext = request.app.state.context
    views = await _exports(ctx)
    return render(request, "trace_exports.html", user=user, exports=views, error=None)


@pages.post("/exports-traces")
@guarded
async def exports_form(request: Request) -> Response:
    user = signed_in_user(request, "traces:read")
    ctx: AppContext = request.app.state.context
    form = await read_form(request)
    if not check_csrf(request, form.get("csrf", "")):
        return render(request, "error.html", 403, title="Accès refusé", message="Formulaire expiré.")
    try:
        body = TraceExportIn(
            requester=form.get("requester", ""), reference=form.get("reference", ""),
            dossier_ids=[d.strip() for d in form.get("dossier_ids", "").split(",") if d.strip()],
            since=form.get("since") or None, until=form.get("until") or None)
        await request_export(request, ctx, body, user)
    except (ValueError, HTTPException) as error:
        views = await _exports(ctx)
        return render(request, "trace_exports.html", 422, user=user, exports=views,
                      error=f"Demande incomplète : {error}")
    return RedirectResponse("/exports-traces", status_code=303)


@pages.get("/exports-traces/{export_id}/archive")
@guarded
async def exports_download(request: Request, export_id: str) -> Response:
    user = signed_in_user(request, "traces:read")
    return await _download(request, request.app.state.context, export_id, user)
