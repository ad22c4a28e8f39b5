"""Temporal's remote codec protocol, served by the product for Temporal Web.

``POST /codec/decode`` and ``POST /codec/encode`` take and answer ``{"payloads": [...]}``
(Temporal's JSON form: base64 ``data``, base64 ``metadata`` values). Only operators and
administrators, signed in with the product's own bearer token or session cookie. Decoded
payloads have the NIR and the identity fields masked, unless the user may unmask NIRs
(``nir:unmask``): each NIR then shown in clear is journaled like the dossier page's.
CORS: Temporal Web's origin(s) alone (settings.codec_cors_origins), with credentials.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from temporalio.api.common.v1 import Payload

from api.auth import context, may, session_user
from api.context import AppContext
from crypto.person_keys import PersonKeyErased
from state_models.validators import mask_nir
from store.models import User
from store.unmasking_journal import record_nir_unmasking
from store.users import user_for_token

router = APIRouter(prefix="/codec", tags=["codec"], include_in_schema=False)

READERS = frozenset({"operator", "administrator"})
IDENTITY_FIELDS = frozenset({"birth_name", "usage_name", "first_names", "birth_date", "email", "phone"})
MASK = "***"
JOURNAL_CHANNEL = "codec"


def _cors(request: Request, response: Response) -> Response:
    origin = request.headers.get("origin")
    if origin and origin in context(request).settings.codec_cors_origins:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Vary"] = "Origin"
    return response


def _answer(request: Request, status: int, body: dict[str, Any]) -> Response:
    return _cors(request, JSONResponse(status_code=status, content=body))


@router.options("/{operation}")
def preflight(operation: str, request: Request) -> Response:
    response = _cors(request, Response(status_code=204))
    if "Access-Control-Allow-Origin" in response.headers:
        response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type, X-Namespace"
        response.headers["Access-Control-Max-Age"] = "600"
    return response


def _user(request: Request, ctx: AppContext) -> User | None:
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        with ctx.db.sessions() as session:
            return user_for_token(session, authorization[7:].strip(), "api")
    return session_user(request)


def _from_json(item: Any) -> Payload:
    return Payload(metadata={k: base64.b64decode(v, validate=True) for k, v in item.get("metadata", {}).items()},
                   data=base64.b64decode(item.get("data", ""), validate=True))


def _to_json(payload: Payload) -> dict[str, Any]:
    return {"metadata": {k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
            "data": base64.b64encode(payload.data).decode()}


class _Masker:
    """Masks identity fields, and every other occurrence of their values (a failure message
    quoting a name), in the JSON payloads of one request."""

    def __init__(self, ctx: AppContext, user: User) -> None:
        self.ctx, self.user = ctx, user
        self.unmask = may(user, "nir:unmask")
        self.secrets: set[str] = set()

    def collect(self, value: Any, dossier_id: str | None = None) -> None:
        if isinstance(value, dict):
            dossier_id = value.get("dossier_id") if isinstance(value.get("dossier_id"), str) else dossier_id
            # A correction (re-engineering, rectification) names the field it changes.
            if value.get("name") in IDENTITY_FIELDS and isinstance(value.get("value"), str):
                value = {**value, value["name"]: value["value"]}
            for key, item in value.items():
                if not (isinstance(item, str) and item and key in IDENTITY_FIELDS | {"nir"}):
                    self.collect(item, dossier_id)
                elif not self._shown(key, item, dossier_id):
                    self.secrets.add(item)
        elif isinstance(value, list):
            for item in value:
                self.collect(item, dossier_id)

    def _shown(self, key: str, value: str, dossier_id: str | None) -> bool:
        """Whether an identity field may be shown in clear: only to a user who may unmask,
        and a NIR only once its unmasking is journaled."""
        if not self.unmask:
            return False
        return key != "nir" or self._journal(value, dossier_id)

    def _journal(self, nir: str, dossier_id: str | None) -> bool:
        with self.ctx.db.sessions.begin() as session:
            return record_nir_unmasking(session, self.ctx.cipher, self.user.username, nir, dossier_id,
                                        JOURNAL_CHANNEL)

    def mask(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {key: self.mask(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.mask(item) for item in value]
        if isinstance(value, str):
            for secret in sorted(self.secrets, key=len, reverse=True):
                if secret in value:
                    value = value.replace(secret, mask_nir(secret) if len(secret) == 15 else MASK)
            return value
        return value


def _decoded(ctx: AppContext, payload: Payload) -> Payload:
    assert ctx.codec is not None
    try:
        return ctx.codec.decode_one(payload)
    except (PersonKeyErased, LookupError, ValueError):
        return payload  # erased or unknown key: shown sealed, as the server holds it


async def _body(request: Request) -> list[Payload] | None:
    try:
        items = (await request.json())["payloads"]
        return [_from_json(item) for item in items]
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        return None


@router.post("/{operation}")
async def codec(operation: str, request: Request) -> Response:
    ctx = context(request)
    if operation not in ("decode", "encode") or ctx.codec is None:
        return _answer(request, 404, {"detail": {"code": "NotFound", "message": "Opération inconnue."}})
    user = _user(request, ctx)
    if user is None:
        return _answer(request, 401, {"detail": {"code": "Unauthenticated",
                                                 "message": "Authentification requise."}})
    if not user.role_codes & READERS:
        return _answer(request, 403, {"detail": {"code": "Forbidden", "message":
                                                 "Réservé aux opérateurs et administrateurs."}})
    namespace = request.headers.get("x-namespace")
    if namespace and namespace != ctx.settings.temporal_namespace:
        return _answer(request, 404, {"detail": {"code": "UnknownNamespace",
                                                 "message": f"Espace de noms inconnu : {namespace}"}})
    payloads = await _body(request)
    if payloads is None:
        return _answer(request, 422, {"detail": [{"loc": ["body", "payloads"], "type": "value_error",
                                                  "msg": "liste de payloads Temporal attendue"}]})
    if operation == "encode":
        sealed = await ctx.codec.encode(payloads)
        return _answer(request, 200, {"payloads": [_to_json(p) for p in sealed]})

    decoded = [_decoded(ctx, p) for p in payloads]
    masker = _Masker(ctx, user)
    values: list[Any] = []
    for payload in decoded:
        value = None
        if payload.metadata.get("encoding") == b"json/plain":
            try:
                value = json.loads(payload.data)
            except ValueError:
                value = None
        values.append(value)
        masker.collect(value)
    answer = []
    for payload, value in zip(decoded, values, strict=True):
        if value is not None:
            payload = Payload(metadata=dict(payload.metadata),
                              data=json.dumps(masker.mask(value), ensure_ascii=False).encode())
        elif masker.secrets:  # not JSON: masked as text if it is text
            payload = Payload(metadata=dict(payload.metadata), data=masker.mask(
                payload.data.decode(errors="replace")).encode())
        answer.append(_to_json(payload))
    return _answer(request, 200, {"payloads": answer})
