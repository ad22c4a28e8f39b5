"""What every server-rendered page shares: the templates, sign-in and role checks, forms.

Dossier, market and incident pages all render through here (api/routes_*ui.py).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError as SchemaError

from api import labels
from api.auth import check_csrf, csrf_token, may, session_user
from api.errors import InvalidFields, Refused
from observability import correlation
from state_models.dossier import STATES
from state_models.dossier_data import CHOICES
from state_models.dossier_events import CORRECTABLE_FIELDS, DATE_FIELDS, EVENT_FIELDS
from state_models.funders import FUNDERS, SELECTABLE
from store.models import User

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.filters["paris_time"] = labels.paris_time
templates.env.globals.update(
    labels=labels, STATES=STATES, EVENT_FIELDS=EVENT_FIELDS, DATE_FIELDS=DATE_FIELDS,
    CORRECTABLE_FIELDS=sorted(CORRECTABLE_FIELDS), CHOICES=CHOICES,
    FUNDERS=FUNDERS, SELECTABLE_FUNDERS=SELECTABLE,
    # A new one-time token for each rendered form (see api/idempotency.py).
    once_token=lambda: uuid.uuid4().hex,
)
PAGE_SIZE = 20


class _Redirect(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def render(request: Request, name: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    values.setdefault("user", session_user(request))
    values.setdefault("link", getattr(request.state, "link", None))  # the AGORA link banner
    # The id the logs and the AGORA traces of this request carry (X-Request-Id).
    values.setdefault("request_id", correlation.request_id.get())
    return templates.TemplateResponse(request, name, {"csrf": csrf_token(request), **values},
                                      status_code=status_code)


def signed_in_user(request: Request, permission: str) -> User:
    """The signed-in user if a role grants ``permission``; else (in a ``guarded`` handler)
    the sign-in page or a 403 page."""
    user = session_user(request)
    if user is None:
        target = quote(request.url.path)
        raise _Redirect(RedirectResponse(f"/connexion?suite={target}", status_code=303))
    if not may(user, permission):
        raise _Redirect(render(request, "error.html", 403, user=user, title="Accès refusé",
                               message="Votre rôle ne permet pas cette action."))
    return user


async def read_form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {key: str(value) for key, value in form.items()}


def guarded(handler):  # type: ignore[no-untyped-def]
    """Turn sign-in redirects and refusals raised by ``signed_in_user`` into responses."""

    @functools.wraps(handler)
    async def wrapper(request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            return await handler(request, *args, **kwargs)
        except _Redirect as redirect:
            return redirect.response

    return wrapper


def french(error: dict[str, Any]) -> str:
    """A pydantic error, as the message shown next to the field."""
    kind = error.get("type", "")
    if kind == "missing" or kind == "string_too_short":
        return "Champ obligatoire."
    if kind.startswith("int"):
        return "Nombre entier attendu."
    if kind == "literal_error":
        return "Valeur non reconnue."
    if kind == "string_too_long":
        return "Texte trop long."
    return "Valeur invalide."


def last_part(loc: tuple[Any, ...]) -> str:
    """An error's location as the form field it belongs to: ("body", "person", "nir") → nir."""
    return str(loc[-1]) if loc else "form"


async def submit_creation(request: Request, form: dict[str, str], create: Callable[[], Awaitable[str]],
                          field_of: Callable[[tuple[Any, ...]], str] = last_part,
                          ) -> tuple[str | None, dict[str, str]]:
    """Run ``create`` (which validates the form and starts the workflow) for a posted creation
    form: the new id, or the French errors by form field, to show next to each field."""
    if not check_csrf(request, form.get("csrf", "")):
        return None, {"form": "Formulaire expiré : veuillez le soumettre à nouveau."}
    errors: dict[str, str] = {}
    try:
        return await create(), {}
    except SchemaError as invalid:
        for error in invalid.errors():
            errors.setdefault(field_of(tuple(error["loc"])), french(error))
    except InvalidFields as invalid:
        for loc, message in invalid.errors:
            errors.setdefault(field_of(loc), message)
    except Refused as refused:
        if "dossier_id" in refused.extra:  # created, AGORA still to answer: show it
            return refused.extra["dossier_id"], {}
        errors["form"] = refused.message
    return None, errors
