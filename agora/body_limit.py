"""Request bodies limited before they are read whole: an ASGI middleware shared by the
AGORA simulator and the API. A declared Content-Length above the limit is refused at once;
a body sent without one (chunked) is refused as soon as it grows past the limit. Either
way the answer is 413, authenticated or not, and nothing of the request is applied: JSON,
or the page the application gives for that path (a browser's form)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when the answer has already started (an HTTPException, so a
    framework that catches it answers 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"corps de requête trop volumineux (au plus {limit} octets)")
        self.limit = limit


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int,
                 larger: Mapping[str, int] | None = None,
                 page: Callable[[str, int], bytes | None] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Paths whose bodies may be larger (an export uploaded for the backfill): path → limit.
        self.larger = dict(larger or {})
        # The refusal as an HTML page for a path (its limit given), None for JSON.
        self.page = page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger.get(scope["path"], self.max_bytes)
        page = self.page(scope["path"], limit) if self.page is not None else None
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _too_large(send, limit, page)
            return
        received = 0
        started = False
        refused = False  # the 413 is sent: the app sees the client gone, its answer is dropped

        async def limited_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    if started:
                        raise BodyTooLarge(limit)
                    # Answered here, not by an exception: a framework reading the body
                    # would turn it into its own 400 ("error parsing the body").
                    refused = True
                    await _too_large(send, limit, page)
                    return {"type": "http.disconnect"}
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except Exception:
            if not refused:
                raise


async def _too_large(send: Send, limit: int, page: bytes | None) -> None:
    if page is not None:
        body, content_type = page, b"text/html; charset=utf-8"
    else:
        body = json.dumps({"detail": {"code": "BodyTooLarge", "message": (
            f"Corps de requête trop volumineux : au plus {limit} octets.")}},
            ensure_ascii=False).encode()
        content_type = b"application/json"
    await send({"type": "http.response.start", "status": 413, "headers": [
        (b"content-type", content_type), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
