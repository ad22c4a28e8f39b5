"""What the API and the pages ask AGORA about a dossier's holder, through Temporal
(``temporal_client.agora_reads``), and the short cache in front of it.

A page refresh within ``agora_read_cache_seconds`` shows the answer already obtained
(``api/agora/cache.py``), with the time AGORA gave it. A DIF balance recorded drops the
holder's cached rights and balances.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from api import labels
from api.context import AppContext
from api.errors import Refused, http_refusal
from api.events import send
from contracts import agora_reads as reads
from contracts.agora_reads import AgoraReadAnswer, AgoraReadCall, AgoraReadInput, ReadRequest
from store.models import User
from store.queries import get_dossier
from temporal_client import EventRefused
from temporal_client.agora_reads import AgoraReadPending, ask_agora

# What a DIF record makes stale for the same holder.
_STALE_AFTER_DIF = frozenset({reads.RIGHTS, reads.BALANCES})


@dataclass
class Consulted:
    answer: AgoraReadAnswer
    from_cache: bool


@dataclass
class Holder:
    """What a consultation about a dossier's holder needs from the stored dossier."""

    dossier_id: str
    nir: str
    action_id: str
    certification_code: str | None


def holder_of(ctx: AppContext, dossier_id: str) -> Holder:
    with ctx.db.sessions() as session:
        row = get_dossier(session, dossier_id)
        if row is None:
            raise Refused(404, "UnknownDossier", f"Dossier inconnu : {dossier_id}")
        nir = ctx.fields.nir(row.person)
        return Holder(row.id, nir, row.action_id, row.certification_code)


def fields_for(operation: str, holder: Holder) -> dict[str, Any]:
    if operation == reads.ELIGIBILITY:
        return {"nir": holder.nir, "action_id": holder.action_id,
                "certification_code": holder.certification_code}
    return {"nir": holder.nir}


async def consult(ctx: AppContext, user: User, operation: str, fields: dict[str, Any],
                  dossier_id: str | None = None, identity: str = "") -> Consulted:
    """One of AGORA's consultations, from the cache when it holds a fresh answer.
    502 AGORA refused (its fault code), 503 Temporal unreachable, 504 AGORA not answering."""
    cache = ctx.agora_reads
    if operation != reads.RECORD_DIF:
        cached = cache.get(operation, fields)
        if cached is not None:
            return Consulted(cached, True)
    read = AgoraReadInput(AgoraReadCall(ReadRequest(operation, fields), user.username, dossier_id),
                          ctx.retry, ctx.link)
    try:
        answer = await send(ask_agora(await ctx.temporal(), read, identity or str(uuid.uuid4()),
                                      ctx.settings.task_queue, ctx.settings.agora_read_wait_seconds,
                                      fields.get("nir")), "agora_read", operation)
    except EventRefused as refused:  # AGORA's refusal of the consultation
        raise http_refusal(refused) from refused
    except AgoraReadPending as pending:
        raise Refused(504, "AgoraPending", pending_message(pending)) from pending
    if operation == reads.RECORD_DIF:
        cache.forget_holder(fields["nir"], _STALE_AFTER_DIF)
    else:
        cache.put(operation, fields, answer)
    return Consulted(answer, False)


async def consult_holder(ctx: AppContext, user: User, operation: str,
                         holder: Holder) -> Consulted:
    """A consultation about a dossier's holder: the operation's fields from the holder."""
    return await consult(ctx, user, operation, fields_for(operation, holder), holder.dossier_id)


def pending_message(pending: AgoraReadPending) -> str:
    """Why AGORA's answer is not there, in French."""
    held = [w for w in pending.waits if w.ended_at is None]
    if held and held[-1].reason == "maintenance":
        why = f"AGORA est en maintenance jusqu'à {labels.paris_time(held[-1].until or '')}"
    elif held:
        why = "la liaison avec AGORA est coupée"
    else:
        why = "AGORA n'a pas répondu à temps"
    if pending.cancelled:
        return f"Consultation impossible pour l'instant : {why}. Réessayez plus tard."
    return f"{why.capitalize()} : l'enregistrement reste en attente et sera transmis dès que possible."


@dataclass
class PageRead:
    """One consultation for a page: its answer (an API shape), or why there is none."""

    value: Any = None
    error: str = ""


async def page_read(ctx: AppContext, user: User, operation: str, holder: Holder,
                    shape: Callable[[AgoraReadAnswer, bool], Any]) -> PageRead:
    """A page shows what it could get: a refusal or a silence of AGORA becomes a French
    sentence in its place, never an error page."""
    try:
        consulted = await consult_holder(ctx, user, operation, holder)
    except Refused as refused:
        prefix = f"AGORA a refusé (code {refused.code}) : " if refused.status == 502 else ""
        return PageRead(error=f"{prefix}{refused.message}")
    return PageRead(shape(consulted.answer, consulted.from_cache))
