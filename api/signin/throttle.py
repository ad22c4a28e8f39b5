"""Sign-in throttling: password checks off the event loop, a growing wait after repeated
failures for a user or an address (429 with Retry-After meanwhile), every failure and
lockout recorded (who, where, when; never the password)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from api.context import AppContext
from state_models.validators import mask_nirs
from store.models import User
from store.sign_in_log import FAILURE, LOCKOUT, SUCCESS, record, wait_seconds
from store.users import authenticate

log = logging.getLogger("agora_flow.sign_in")


@dataclass(frozen=True)
class SignIn:
    user: User | None  # None: refused (bad credentials, or locked out)
    retry_after: int = 0  # > 0: locked out, the password was not checked


def client_address(request: Request) -> str:
    return request.client.host if request.client else "inconnue"


async def sign_in(ctx: AppContext, request: Request, username: str, password: str) -> SignIn:
    """Check the password in a worker thread (Argon2 takes tens of milliseconds of CPU,
    which would stall every other request on the event loop)."""
    return await run_in_threadpool(sign_in_sync, ctx, client_address(request), username, password)


def sign_in_sync(ctx: AppContext, address: str, username: str, password: str) -> SignIn:
    settings = ctx.settings
    username = username.strip()[:64]
    # What is recorded and logged of the name typed: a NIR typed there is masked.
    typed = mask_nirs(username)
    with ctx.db.sessions.begin() as session:
        wait = wait_seconds(session, typed, address, settings.sign_in_free_failures,
                            timedelta(seconds=settings.sign_in_window_seconds))
        if wait > 0:
            record(session, typed, address, LOCKOUT)
            log.warning("sign-in locked out: user=%r address=%s wait=%.0fs", typed, address, wait)
            return SignIn(None, max(1, math.ceil(wait)))
        user = authenticate(session, username, password)
        record(session, typed, address, SUCCESS if user else FAILURE)
        if user is None:
            log.warning("sign-in failed: user=%r address=%s", typed, address)
            return SignIn(None)
        session.flush()  # a rehashed password is saved
        session.expunge(user)
        return SignIn(user)
