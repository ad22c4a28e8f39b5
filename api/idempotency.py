"""One request, one effect: the ``Idempotency-Key`` header on state-changing JSON
endpoints, and the one-time token (hidden field ``once``) of every form of the pages.

A key is scoped to its user and remembered in the database (``idempotency_keys``) for at
least 24 hours, so a retry reaching another API process, or the same one after a restart,
is recognised:
- same key, same method, path and body, first request answered → the first answer again
  (same status and body) with ``Idempotency-Replayed: true``; nothing is sent anew;
- same key, another request → 422 naming the header and the conflict;
- same key while the first request still runs → this request waits for the first answer
  (up to ``IN_PROGRESS_WAIT_SECONDS``, longer than an event's own wait), then 409
  ``IdempotencyKeyInProgress`` with ``Retry-After``.
An answer of 500 or more (Temporal unreachable, AGORA still pending) is not final: the
key is released and a retry runs again. That retry is still one effect: the dossier id and
the event id are derived from the key (see ``request_identity``), and the workflows
apply an event id once.

A form's token plays the same role for the pages: a double click or a resubmitted form
answers the first submit's redirect. Only a redirect (the form's success) is remembered;
a form shown again with its errors carries a new token.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from api.auth import session_user
from store.db import Database
from store.exactly_once import Remembered, claim_key, release_key, remember_answer
from store.users import user_for_token

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

HEADER = "idempotency-key"
REPLAYED_HEADER = b"idempotency-replayed"
FORM_FIELD = "once"
_FORM_TYPE = "application/x-www-form-urlencoded"
MAX_KEY_LENGTH = 255
IN_PROGRESS_WAIT_SECONDS = 35.0
_POLL_SECONDS = 0.1
_STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Signing in changes nothing a retry could duplicate.
_EXEMPT = frozenset({"/api/token", "/connexion", "/deconnexion"})
_NAMESPACE = uuid.UUID("0b7f6c1e-7a51-4c4f-9c2e-5f0d3c8a9e11")


def request_identity(request: Request) -> str:
    """This request's identity: derived from its idempotency key or form token (so a retry
    has the same one), else fresh. Dossier ids and event ids are built from it."""
    scoped = request.scope.get("state", {}).get("idempotency_scope")
    return str(uuid.uuid5(_NAMESPACE, scoped) if scoped else uuid.uuid4())


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] not in _STATE_CHANGING
                or scope["path"] in _EXEMPT or scope["path"].startswith("/static")):
            await self.app(scope, receive, send)
            return
        is_api = scope["path"].startswith("/api/")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if is_api and HEADER not in headers:
            await self.app(scope, receive, send)
            return
        if not is_api and not headers.get("content-type", "").startswith(_FORM_TYPE):
            # No form token outside a urlencoded form; an upload is streamed, never read whole.
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        replay = _replaying(body)
        if is_api:
            key = headers[HEADER].strip()
            if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
                await _json(send, 422, {"detail": [{
                    "loc": ["header", "Idempotency-Key"], "type": "value_error",
                    "msg": f"clé d'idempotence invalide (1 à {MAX_KEY_LENGTH} caractères imprimables)"}]})
                return
        else:
            token = _form_token(headers, body)
            if token is None:
                await self.app(scope, replay, send)
                return
            key = f"form:{token}"
        username = await run_in_threadpool(_username, scope, headers, is_api)
        if username is None:  # the endpoint itself answers 401 or the sign-in page
            await self.app(scope, replay, send)
            return
        db: Database = scope["app"].state.context.db
        method_path = f"{scope['method']} {scope['path']}"
        digest = hashlib.sha256(body).hexdigest()
        remembered = await _claim(db, username, key, method_path, digest)
        if remembered is not None:
            await _answer_remembered(send, remembered, method_path, digest, is_api)
            return
        scope.setdefault("state", {})["idempotency_scope"] = f"{username}\x00{key}"
        recorder = _Recorder(send)
        try:
            await self.app(scope, replay, recorder)
        except BaseException:
            await run_in_threadpool(_in_transaction, db, release_key, username, key)
            raise
        final = recorder.status < 500 if is_api else recorder.status in (302, 303)
        if final:
            await run_in_threadpool(_in_transaction, db, remember_answer, username, key,
                                    recorder.status, recorder.content_type, recorder.remembered_body())
        else:
            await run_in_threadpool(_in_transaction, db, release_key, username, key)


class _Recorder:
    """Passes the answer on while keeping a copy of it."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status = 500
        self.content_type: str | None = None
        self.location: str | None = None
        self._chunks: list[bytes] = []

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            for name, value in message.get("headers", []):
                if name.lower() == b"content-type":
                    self.content_type = value.decode("latin-1")
                elif name.lower() == b"location":
                    self.location = value.decode("latin-1")
        elif message["type"] == "http.response.body":
            self._chunks.append(message.get("body", b""))
        await self._send(message)

    def remembered_body(self) -> bytes:
        # A redirect is remembered by its target.
        return (self.location or "").encode() if self.status in (302, 303) else b"".join(self._chunks)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replaying(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # as Starlette: nothing more until the client leaves
        return {"type": "http.disconnect"}

    return receive


def _form_token(headers: dict[str, str], body: bytes) -> str | None:
    if not headers.get("content-type", "").startswith(_FORM_TYPE):
        return None
    values = parse_qs(body.decode("utf-8", "replace")).get(FORM_FIELD)
    token = values[0].strip() if values else ""
    return token if token and len(token) <= 64 and token.isprintable() else None


def _username(scope: Scope, headers: dict[str, str], is_api: bool) -> str | None:
    if is_api:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        with scope["app"].state.context.db.sessions() as session:
            user = user_for_token(session, token.strip(), "api")
            return user.username if user else None
    user = session_user(Request(scope))
    return user.username if user else None


def _in_transaction(db: Database, write: Callable[..., Any], *args: Any) -> Any:
    with db.sessions.begin() as session:
        return write(session, *args)


async def _claim(db: Database, username: str, key: str, method_path: str,
                 digest: str) -> Remembered | None:
    """None: this request runs. Else the first request's answer (waited for while it runs)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + IN_PROGRESS_WAIT_SECONDS
    while True:
        remembered = await run_in_threadpool(_in_transaction, db, claim_key, username, key,
                                             method_path, digest)
        if remembered is None or remembered.status is not None:
            return remembered
        if (remembered.method_path, remembered.body_digest) != (method_path, digest):
            return remembered  # a conflict needs no wait
        if loop.time() >= deadline:
            return remembered
        await asyncio.sleep(_POLL_SECONDS)


async def _answer_remembered(send: Send, remembered: Remembered, method_path: str, digest: str,
                             is_api: bool) -> None:
    if not is_api:
        if remembered.status is None:
            await _plain(send, 409, "Ce formulaire est en cours de traitement ; rechargez la page "
                                    "dans un instant.", retry_after=True)
        else:  # the first submit's result
            await _send(send, 303, b"", None, extra=[(b"location", remembered.body or b"/")])
        return
    if (remembered.method_path, remembered.body_digest) != (method_path, digest):
        other = ("une autre requête (" + remembered.method_path + ")"
                 if remembered.method_path != method_path else "un autre corps de requête")
        await _json(send, 422, {"detail": [{
            "loc": ["header", "Idempotency-Key"], "type": "idempotency_conflict",
            "msg": f"cette clé d'idempotence a déjà servi pour {other} : utilisez une nouvelle clé"}]})
        return
    if remembered.status is None:
        await _json(send, 409, {"detail": {
            "code": "IdempotencyKeyInProgress",
            "message": "Une requête avec cette clé d'idempotence est en cours ; réessayez plus tard."}},
            retry_after=True)
        return
    await _send(send, remembered.status, remembered.body or b"", remembered.content_type,
                extra=[(REPLAYED_HEADER, b"true")])


async def _json(send: Send, status: int, content: Any, retry_after: bool = False) -> None:
    await _send(send, status, json.dumps(content, ensure_ascii=False).encode(), "application/json",
                extra=[(b"retry-after", b"1")] if retry_after else [])


async def _plain(send: Send, status: int, text: str, retry_after: bool = False) -> None:
    await _send(send, status, text.encode(), "text/plain; charset=utf-8",
                extra=[(b"retry-after", b"1")] if retry_after else [])


async def _send(send: Send, status: int, body: bytes, content_type: str | None,
                extra: list[tuple[bytes, bytes]]) -> None:
    headers = [(b"content-length", str(len(body)).encode()), *extra]
    if content_type:
        headers.append((b"content-type", content_type.encode("latin-1")))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
