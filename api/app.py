"""The FastAPI application: JSON API under /api, French web UI everywhere else."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from agora.body_limit import BodyLimit
from api.agora import api as agora_api
from api.agora import ui as agora_ui
from api.agora.cache import ReadCache
from api.backfill import routes as backfill
from api.codec import routes as codec
from api.context import AppContext, TemporalClientFactory
from api.dossiers import api as dossiers_api
from api.dossiers import ui as dossiers_ui
from api.errors import InvalidFields, Refused
from api.front_door import (
    RETRY_AFTER_SECONDS,
    FrontDoor,
    masked_validation_errors,
    too_large_page,
)
from api.idempotency import IdempotencyMiddleware
from api.incidents import routes as incidents
from api.markets import api as markets_api
from api.markets import ui as markets_ui
from api.metrics import routes as metrics_routes
from api.metrics.middleware import Observed
from api.service_report import routes as service_report
from api.signin import routes as signin
from api.subject_requests import routes as subject_requests
from api.traces import exports as trace_exports
from api.traces import routes as traces
from api.users import routes as users
from contracts.agora_link import GateConfig
from contracts.dossier import EscalationConfig, RetryConfig
from contracts.incident import IncidentTimings
from crypto.codec import EncryptionCodec, open_keys
from notifications.contacts import load_contacts
from settings import Settings
from state_models.calendar import WorkingCalendar, parse_maintenance_window
from state_models.public_holidays import default_calendar
from store.crypto import cipher_for
from store.db import Database
from store.production import refuse_unsafe_start
from temporal_client.link import load_priority_matrix

STATIC_DIR = Path(__file__).parent / "static"


def _calendar_from_now() -> WorkingCalendar:
    # Public holidays of this year and the next two: no reminder clock spans more.
    year = datetime.now(UTC).year
    return default_calendar(range(year, year + 3))


def create_app(settings: Settings, temporal_client_factory: TemporalClientFactory,
               retry: RetryConfig | None = None,
               escalation: EscalationConfig | None = None,
               incident_timings: IncidentTimings | None = None) -> FastAPI:
    """The app over ``settings.effective_database_url`` (migrated now) and a lazily connected Temporal."""
    app = FastAPI(
        title="agora-flow",
        version="0.1.0",
        description="Dossiers de formation de la Région, déclarés à AGORA (CDC). "
        "Errors: 422 names the field and the reason; 409 an event not allowed now; "
        "502 carries AGORA's fault code.",
    )
    database = Database(settings.effective_database_url)
    refuse_unsafe_start(settings, database, "API")
    # Refuses to start without the master key (outside development), before serving anything.
    keys = open_keys(settings)
    app.state.context = AppContext(settings=settings, db=database,
                                   cipher=cipher_for(settings), client_factory=temporal_client_factory,
                                   retry=retry or RetryConfig(),
                                   link=GateConfig(
                                       [parse_maintenance_window(w) for w in settings.maintenance_windows],
                                       settings.link_workflow_id),
                                   contacts=load_contacts(),
                                   calendar=_calendar_from_now(),
                                   escalation_override=escalation,
                                   incident_timings=incident_timings or IncidentTimings(),
                                   priority_matrix=load_priority_matrix(settings.priority_matrix_file),
                                   codec=EncryptionCodec(keys),
                                   agora_reads=ReadCache(settings.agora_read_cache_seconds))
    app.include_router(metrics_routes.router)
    app.include_router(signin.api)
    app.include_router(codec.router)
    app.include_router(dossiers_api.router)
    app.include_router(agora_api.router)
    app.include_router(incidents.api)
    app.include_router(service_report.api)
    app.include_router(markets_api.router)
    app.include_router(traces.api)
    app.include_router(trace_exports.api)
    app.include_router(subject_requests.api)
    app.include_router(users.api)
    app.include_router(signin.pages)
    app.include_router(agora_ui.router)
    app.include_router(dossiers_ui.router)
    app.include_router(incidents.pages)
    app.include_router(markets_ui.router)
    app.include_router(traces.pages)
    app.include_router(trace_exports.pages)
    app.include_router(subject_requests.pages)
    app.include_router(backfill.pages)
    app.include_router(users.pages)
    app.include_router(service_report.pages)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(IdempotencyMiddleware)

    @app.middleware("http")
    async def link_banner(request: Request, call_next):  # type: ignore[no-untyped-def]
        # Pages show whether AGORA is cut off; the JSON API has its own endpoint.
        if request.method == "GET" and not request.url.path.startswith(
                ("/api", "/static", "/metrics")):
            request.state.link = await app.state.context.link_status()
        return await call_next(request)

    # Outermost first: bodies are limited before anything reads them; outages and security
    # headers wrap everything else (see api/front_door.py).
    app.add_middleware(FrontDoor)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes,
                       larger={backfill.UPLOAD_PATH: settings.backfill_upload_max_bytes},
                       page=too_large_page)
    # Outermost of all: every answer (a 413 or a 503 included) is counted and carries the
    # request's id.
    app.add_middleware(Observed)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": masked_validation_errors(
            list(error.errors()))})

    @app.exception_handler(InvalidFields)
    async def invalid_fields(request: Request, error: InvalidFields) -> JSONResponse:
        # Same shape as FastAPI's own validation errors, so clients handle one format.
        return JSONResponse(status_code=422, content={"detail": [
            {"loc": list(loc), "msg": msg, "type": "value_error"} for loc, msg in error.errors
        ]})

    @app.exception_handler(Refused)
    async def refused(request: Request, error: Refused) -> JSONResponse:
        extra = {k: v for k, v in error.extra.items() if v is not None}
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if error.status == 503 else None
        return JSONResponse(status_code=error.status, headers=headers,
                            content={"detail": {"code": error.code, "message": error.message, **extra}})

    return app
