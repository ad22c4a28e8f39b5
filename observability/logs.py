"""Every process logs one JSON object per line (or readable text for a terminal).

Each line carries the timestamp (UTC), the level, the process (``worker``, ``api``, …), the
logger and the message, and where it applies: the workflow id and run id, the activity, the
dossier id, the request id (``observability.correlation``), the AGORA operation and outcome.
The Temporal facts are read from the SDK's context (inside an activity, or from the
``temporal_workflow`` / ``temporal_activity`` fields the SDK's loggers attach), so a plain
``logging.getLogger(__name__)`` line inside an activity gets them too.

Personal data stays out by construction: callers log identifiers, never a person's values
(a test scans a whole run's lines for the test data's NIR, names, birth date and e-mail).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from temporalio import activity

from contracts.dossier import WORKFLOW_ID_PREFIX as DOSSIER_PREFIX
from observability import correlation
from state_models.validators import mask_nirs

FORMATS = ("json", "text")
# Fields a caller may pass with ``extra=`` and the formatter writes out.
EXTRA_FIELDS = ("dossier_id", "market_id", "agora_operation", "agora_outcome", "fault_code",
                "http_method", "route", "status", "duration_ms")


class ContextFilter(logging.Filter):
    """Adds the Temporal and request facts of the current context to a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        facts: dict[str, Any] = {}
        from_workflow = getattr(record, "temporal_workflow", None)
        from_activity = getattr(record, "temporal_activity", None)
        if isinstance(from_activity, dict):
            facts.update(workflow_id=from_activity.get("workflow_id"),
                         run_id=from_activity.get("workflow_run_id"),
                         activity=from_activity.get("activity_type"))
        elif isinstance(from_workflow, dict):
            facts.update(workflow_id=from_workflow.get("workflow_id"),
                         run_id=from_workflow.get("run_id"),
                         workflow_type=from_workflow.get("workflow_type"))
        elif activity.in_activity():
            info = activity.info()
            facts.update(workflow_id=info.workflow_id, run_id=info.workflow_run_id,
                         activity=info.activity_type)
        workflow_id = facts.get("workflow_id")
        if workflow_id and workflow_id.startswith(DOSSIER_PREFIX) and not getattr(
                record, "dossier_id", None):
            facts["dossier_id"] = workflow_id.removeprefix(DOSSIER_PREFIX)
        request = correlation.request_id.get()
        if request is not None:
            facts["request_id"] = request
        for name, value in facts.items():
            if value is not None and not hasattr(record, name):
                setattr(record, name, value)
        return True


_CONTEXT_FIELDS = ("workflow_id", "run_id", "workflow_type", "activity", "request_id")


class JsonFormatter(logging.Formatter):
    def __init__(self, process: str) -> None:
        super().__init__()
        self._process = process

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname,
            "process": self._process,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in (*_CONTEXT_FIELDS, *EXTRA_FIELDS):
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        # Last line of defence: a NIR quoted by some library's message is masked.
        return mask_nirs(json.dumps(line, ensure_ascii=False, default=str))


class TextFormatter(logging.Formatter):
    """For a terminal: the usual line, then the known facts as ``key=value``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        facts = " ".join(f"{name}={getattr(record, name)}"
                         for name in (*_CONTEXT_FIELDS, *EXTRA_FIELDS)
                         if getattr(record, name, None) is not None)
        text = super().format(record)
        return mask_nirs(f"{text} [{facts}]" if facts else text)


def handler(process: str, log_format: str, stream: Any = None) -> logging.Handler:
    """A handler writing ``process``'s lines in ``log_format`` to ``stream`` (stdout)."""
    if log_format not in FORMATS:
        raise ValueError(f"log format must be one of {FORMATS}, not {log_format!r}")
    out = logging.StreamHandler(stream or sys.stdout)
    out.setFormatter(JsonFormatter(process) if log_format == "json" else TextFormatter())
    out.addFilter(ContextFilter())
    return out


_OURS = "agora_flow_handler"
# HTTP clients whose INFO line, one per request sent, holds the whole URL with its query
# string (a search by name or NIR): only their warnings are kept.
_URL_LOGGERS = ("httpx", "httpcore")
_UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


def route_library_loggers() -> None:
    """Libraries' lines as the process keeps them: uvicorn's through the root logger's
    handler (its own handlers would print a second, differently formatted line), the HTTP
    clients' URL lines left out."""
    for name in _URL_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in _UVICORN_LOGGERS:
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True


def configure(process: str, log_format: str, level: int = logging.INFO,
              stream: Any = None) -> None:
    """The process's one logging set-up: every logger (uvicorn's and the SDK's included)
    goes through the root logger's handler, in ``log_format``. In development,
    ``agora-flow dev`` writes each process's standard output into ``.data/logs/``.

    Like ``logging.basicConfig``, it leaves alone a root logger a host already equipped (a
    test runner calling a command in process); a handler of an earlier call is replaced."""
    root = logging.getLogger()
    for earlier in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(earlier)
    if root.handlers:
        return
    ours = handler(process, log_format, stream)
    setattr(ours, _OURS, True)
    root.addHandler(ours)
    root.setLevel(level)
    route_library_loggers()
