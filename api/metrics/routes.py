"""``GET /metrics``: the API process's metrics for Prometheus (business metrics, request
counts and latencies by route template). No session: a scraper has none. In production,
restrict it to the scraper's addresses (``AGORA_FLOW_METRICS_ALLOWED_ADDRESSES``) and/or a
bearer token (``AGORA_FLOW_METRICS_TOKEN``)."""

from __future__ import annotations

import hmac
import ipaddress
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.auth import context
from api.context import AppContext
from observability import metrics

router = APIRouter(tags=["metrics"])


def may_scrape(request: Request, ctx: Annotated[AppContext, Depends(context)]) -> None:
    settings = ctx.settings
    if settings.metrics_allowed_addresses:
        host = request.client.host if request.client else ""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        if address is None or not any(
                address in ipaddress.ip_network(allowed, strict=False)
                for allowed in settings.metrics_allowed_addresses):
            raise _refused(403, "MetricsForbidden",
                           "Les métriques ne sont pas servies à cette adresse.")
    if settings.metrics_token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), settings.metrics_token.encode()):
            raise _refused(401, "MetricsTokenRequired",
                           "Jeton des métriques absent ou invalide (Authorization: Bearer …).")


def _refused(status: int, code: str, message: str) -> HTTPException:
    # The same body as the API's other refusals ({"detail": {"code", "message"}}), raised
    # as FastAPI's own exception so the route works in any app that includes it.
    return HTTPException(status, {"code": code, "message": message})


@router.get("/metrics", dependencies=[Depends(may_scrape)], include_in_schema=False)
def scrape() -> Response:
    return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)
