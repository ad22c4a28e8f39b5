"""The page *Reprise d'antériorité* (SPEC §6): upload a legacy export, read its validation
report, start the campaign, follow its progress, pause, resume or cancel it, download its
final report. For the roles holding ``backfill:run``.

An uploaded export is kept in the private folder ``<backfill dir>/envois/<token>/`` (0700,
file 0600) until a campaign starts from it (it then moves into the campaign's folder) —
the page never shows a NIR or a name, only line numbers, dossier numbers and reasons.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from api.auth import check_csrf
from api.context import AppContext
from api.pages import guarded, read_form, render, signed_in_user
from backfill.held import load_held
from backfill.reader import UnreadableExport
from backfill.sealed import SealedFileError, private_folder
from backfill.validate import Summary, validate_export
from contracts.backfill import CANCELLED, DONE, BackfillProgress
from temporal_client import EventRefused
from temporal_client import backfill as campaigns

pages = APIRouter(include_in_schema=False)
PERMISSION = "backfill:run"
UPLOAD_PATH = "/reprise/controle"
_TOKEN = re.compile(r"[0-9a-f]{32}")
REPORT_ROWS_SHOWN = 200
PHASES = {"preparing": "lecture et classement", "resolving": "résolution des NIR",
          "loading": "dépôt des lots", "starting_dossiers": "démarrage des dossiers ouverts",
          "reporting": "rapport final", DONE: "terminée", CANCELLED: "annulée"}
CLASSES = {"ready": "prêtes à charger", "nir_to_resolve": "NIR à rechercher",
           "out_of_scope": "hors champ (entrée avant 2019)", "rejected": "rejetées",
           "duplicate": "doublons", "already_held": "déjà suivies dans le flux courant"}


def _uploads(ctx: AppContext) -> Path:
    return ctx.settings.backfill_dir / "envois"


def _forbidden_form(request: Request) -> Response:
    return render(request, "error.html", 403, title="Accès refusé", message="Formulaire expiré.")


async def _campaigns(ctx: AppContext) -> list[BackfillProgress]:
    client = await ctx.temporal()
    return await campaigns.list_campaigns(client, ctx.settings.task_queue)


@pages.get("/reprise")
@guarded
async def backfill_page(request: Request) -> Response:
    user = signed_in_user(request, PERMISSION)
    ctx: AppContext = request.app.state.context
    return render(request, "backfill.html", user=user, campaigns=await _campaigns(ctx),
                  phases=PHASES, error=None, control=None)


@pages.post(UPLOAD_PATH)
@guarded
async def control(request: Request) -> Response:
    """The uploaded export checked (a dry run) and its validation report shown."""
    user = signed_in_user(request, PERMISSION)
    ctx: AppContext = request.app.state.context
    form = await request.form()
    upload = form.get("export")
    error = None
    if not check_csrf(request, str(form.get("csrf", ""))):
        return _forbidden_form(request)
    if not isinstance(upload, UploadFile) or not upload.filename:
        error = "Choisissez le fichier d'export (CSV ou XLSX) à contrôler."
    control = None
    if error is None:
        token = uuid.uuid4().hex
        folder = private_folder(private_folder(_uploads(ctx)) / token)
        export = folder / "export"
        await asyncio.to_thread(_save, upload, export)  # type: ignore[arg-type]
        try:
            summary = await asyncio.to_thread(validate_export, export, load_held(ctx.settings),
                                              folder / "controle.csv")
        except UnreadableExport as unreadable:
            shutil.rmtree(folder)
            error = f"Fichier illisible : {unreadable}"
        else:
            control = _control_view(token, upload.filename or "", summary, folder / "controle.csv")
    return render(request, "backfill.html", 422 if error else 200, user=user,
                  campaigns=await _campaigns(ctx), phases=PHASES, error=error, control=control)


def _save(upload: UploadFile, path: Path) -> None:
    with open(path, "xb") as out:
        path.chmod(0o600)
        shutil.copyfileobj(upload.file, out, 1 << 20)


def _control_view(token: str, name: str, summary: Summary, report: Path) -> dict[str, Any]:
    counts = summary.as_json()
    with open(report, encoding="utf-8-sig") as lines:
        next(lines)  # the header
        rows = [line.rstrip("\n").split(";", 4) for _, line in zip(range(REPORT_ROWS_SHOWN), lines, strict=False)]
    return {"token": token, "name": name, "kind": summary.file_kind, "rows": counts["rows"],
            "counts": [(CLASSES[k], counts[k]) for k in CLASSES], "report": rows,
            "more": counts["rows"] - counts["ready"] > len(rows),
            "loadable": counts["ready"] + counts["nir_to_resolve"]}


@pages.get("/reprise/controle/{token}/rapport.csv")
@guarded
async def control_report(request: Request, token: str) -> Response:
    signed_in_user(request, PERMISSION)
    ctx: AppContext = request.app.state.context
    path = _uploads(ctx) / token / "controle.csv"
    if not _TOKEN.fullmatch(token) or not path.exists():
        return render(request, "error.html", 404, title="Introuvable",
                      message="Ce rapport de contrôle n'existe plus.")
    return Response(path.read_bytes(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": 'attachment; filename="controle-reprise.csv"'})


@pages.post("/reprise/demarrer")
@guarded
async def start(request: Request) -> Response:
    user = signed_in_user(request, PERMISSION)
    ctx: AppContext = request.app.state.context
    form = await read_form(request)
    if not check_csrf(request, form.get("csrf", "")):
        return _forbidden_form(request)
    token = form.get("token", "")
    folder = _uploads(ctx) / token
    if not _TOKEN.fullmatch(token) or not (folder / "export").exists():
        return render(request, "backfill.html", 422, user=user, campaigns=await _campaigns(ctx),
                      phases=PHASES, control=None,
                      error="Ce fichier n'est plus disponible : envoyez-le à nouveau.")
    campaign = await campaigns.start_campaign(await ctx.temporal(), ctx.settings,
                                              folder / "export", acting_user=user.username)
    shutil.rmtree(folder)  # the campaign holds its own copy now
    return RedirectResponse(f"/reprise/{campaign}", status_code=303)


@pages.get("/reprise/{campaign_id}")
@guarded
async def campaign_page(request: Request, campaign_id: str) -> Response:
    user = signed_in_user(request, PERMISSION)
    ctx: AppContext = request.app.state.context
    try:
        progress = await campaigns.progress(await ctx.temporal(), campaign_id)
    except EventRefused:
        return render(request, "error.html", 404, title="Introuvable",
                      message=f"Campagne inconnue : {campaign_id}")
    return render(request, "backfill_campaign.html", user=user, progress=progress, phases=PHASES,
                  classes=CLASSES, finished=progress.phase in (DONE, CANCELLED))


@pages.post("/reprise/{campaign_id}/{action}")
@guarded
async def steer(request: Request, campaign_id: str, action: str) -> Response:
    signed_in_user(request, PERMISSION)
    ctx: AppContext = request.app.state.context
    form = await read_form(request)
    if not check_csrf(request, form.get("csrf", "")):
        return _forbidden_form(request)
    commands = {"pause": campaigns.pause, "reprendre": campaigns.resume, "annuler": campaigns.cancel}
    if action not in commands:
        return render(request, "error.html", 404, title="Introuvable", message="Action inconnue.")
    try:
        await commands[action](await ctx.temporal(), campaign_id)
    except EventRefused as refused:
        return render(request, "error.html", 409, title="Action impossible", message=refused.message)
    return RedirectResponse(f"/reprise/{campaign_id}", status_code=303)


@pages.get("/reprise/{campaign_id}/rapport.csv")
@guarded
async def report(request: Request, campaign_id: str) -> Response:
    signed_in_user(request, PERMISSION)
    ctx: AppContext = request.app.state.context
    try:
        data = await asyncio.to_thread(campaigns.report_csv, ctx.settings, campaign_id)
    except (OSError, SealedFileError, EventRefused):
        return render(request, "error.html", 404, title="Introuvable",
                      message="Pas de rapport pour cette campagne (pas encore terminée ?).")
    return Response(data, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="rapport-reprise-{campaign_id}.csv"'})
