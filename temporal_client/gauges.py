"""The metrics that describe state rather than events, refreshed periodically by the worker
(never per call): dossiers and markets by state (two grouped counts in the store), open
incidents by severity, the working time left to the nearest SLA deadline and how long the
CDC has waited for a notification (the running incident workflows, a handful, queried), and
whether AGORA's maintenance window is open."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from temporalio.client import Client

from observability import metrics
from settings import Settings
from state_models import dossier as dossier_model
from state_models import market as market_model
from state_models.calendar import (
    WorkingCalendar,
    maintenance_end,
    parse_maintenance_window,
    working_time_between,
)
from state_models.incident import Severity
from state_models.public_holidays import default_calendar
from store.db import Database
from store.queries import count_by_state
from workflows.incident import IncidentWorkflow

log = logging.getLogger(__name__)

# Incident states in which the SLA still runs (neither fixed nor worked around) and in which
# the CDC has not been notified yet.
_SLA_RUNNING = frozenset({"detected", "notified", "acknowledged"})
_NOT_NOTIFIED = frozenset({"detected"})
_SEVERITIES = tuple(s.value for s in Severity)


async def refresh(client: Client, database: Database, settings: Settings,
                  calendar: WorkingCalendar, now: datetime | None = None) -> None:
    """Sets every state gauge once."""
    now = now or datetime.now(UTC)
    dossiers, markets = await asyncio.to_thread(_counts, database)
    metrics.set_counts(metrics.DOSSIERS, dossier_model.STATES, dossiers)
    metrics.set_counts(metrics.MARKETS, market_model.STATES, markets)

    windows = tuple(parse_maintenance_window(w) for w in settings.maintenance_windows)
    metrics.MAINTENANCE_WINDOW.set(1 if maintenance_end(now, windows) is not None else 0)

    open_by_severity: dict[str, int] = {}
    nearest: float | None = None
    waiting_notification = 0.0
    query = (f"WorkflowType = 'IncidentWorkflow' AND ExecutionStatus = 'Running' "
             f"AND TaskQueue = '{settings.task_queue}'")
    async for execution in client.list_workflows(query):
        view = await client.get_workflow_handle(execution.id, run_id=execution.run_id).query(
            IncidentWorkflow.view)
        severity = metrics.bounded(view.severity, frozenset(_SEVERITIES))
        open_by_severity[severity] = open_by_severity.get(severity, 0) + 1
        if view.state in _NOT_NOTIFIED:
            detected = datetime.fromisoformat(view.detected_at)
            waiting_notification = max(waiting_notification, (now - detected).total_seconds())
        if view.deadline and view.state in _SLA_RUNNING:
            # Negative once the deadline has passed: how late, in working time.
            left = working_time_between(now, datetime.fromisoformat(view.deadline),
                                        calendar).total_seconds()
            nearest = left if nearest is None else min(nearest, left)
    metrics.set_counts(metrics.INCIDENTS_OPEN, _SEVERITIES, open_by_severity)
    metrics.CDC_NOTIFICATION_PENDING_SECONDS.set(waiting_notification)
    if nearest is None:
        metrics.SLA_WORKING_SECONDS_LEFT.set(float("nan"))  # no running SLA: no sample alerts
    else:
        metrics.SLA_WORKING_SECONDS_LEFT.set(nearest)


def _counts(database: Database) -> tuple[dict[str, int], dict[str, int]]:
    with database.sessions() as session:
        return count_by_state(session)


async def run_refresher(client: Client, settings: Settings) -> None:
    """Refreshes the gauges every ``settings.metrics_refresh_seconds`` until cancelled; a
    failed refresh is logged and the next one tried (metrics never stop the worker)."""
    database = Database(settings.effective_database_url)
    try:
        while True:
            year = datetime.now(UTC).year
            try:
                await refresh(client, database, settings, default_calendar(range(year, year + 2)))
            except Exception:
                log.exception("metrics refresh failed")
            await asyncio.sleep(settings.metrics_refresh_seconds)
    finally:
        database.dispose()
