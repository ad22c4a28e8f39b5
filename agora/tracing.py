"""What one AGORA exchange looked like on the wire, captured where the call is made.

The client's transport fills an :class:`Exchange` as bytes leave and arrive (the request
envelope exactly as sent, with its identity vector; the answer exactly as received, or the
transport error), the client adds the outcome, and hands it to a recorder (store/traces.py
in the worker) in the calling thread, before the caller sees the answer: a trace that
cannot be written fails the call, so the activity fails and Temporal retries it (with the
same request id, which AGORA recognises as a replay).

The exchange travels in a ContextVar, like the acting user (agora/wsse.py): concurrent
activities sharing one client never see each other's exchange.
"""

from __future__ import annotations

import datetime as dt
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol

from lxml import etree

from agora.identity_vector import PAGM_ATTRIBUTE, SAML_NS, IdentityVector

# Outcomes of an exchange.
ACKNOWLEDGED = "acknowledged"  # AGORA answered (a write's acknowledgement or a read's data)
FAULT = "fault"  # a SOAP fault: business or identity-vector refusal
UNAVAILABLE = "unavailable"  # no usable answer: timeout, connection refused, 5xx, 429
ERROR = "error"  # an answer that could not be read


@dataclass(frozen=True)
class ExchangeContext:
    """What the caller knows and the wire does not: the business object and the attempt."""

    dossier_id: str | None = None
    market_id: str | None = None
    attempt: int = 1
    # The id of the API request (X-Request-Id) that led to this call, when there was one.
    correlation_id: str | None = None


@dataclass
class Exchange:
    operation: str
    acting_user: str | None
    request_id: str | None
    context: ExchangeContext
    sent_at: str = ""
    received_at: str = ""
    vector_id: str | None = None
    http_status: int | None = None
    outcome: str = ERROR
    fault_code: str = ""
    message: str = ""
    request_envelope: bytes = b""
    response_envelope: bytes = b""


class TraceSink(Protocol):
    """Where exchanges and signed vectors go (store/traces.py); both raise if not written."""

    def record_exchange(self, exchange: Exchange) -> None: ...

    def archive_vector(self, facts: VectorFacts) -> None: ...


current_exchange: ContextVar[Exchange | None] = ContextVar("agora_exchange", default=None)


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class VectorFacts:
    """What the archive keeps of a signed identity vector besides the assertion itself."""

    assertion_id: str
    subject: str
    pagm: tuple[str, ...]
    issued_at: str
    not_before: str
    not_on_or_after: str
    assertion: bytes


def vector_facts(vector: IdentityVector) -> VectorFacts:
    root = etree.fromstring(vector.xml)
    conditions = root.find(f"{{{SAML_NS}}}Conditions")
    pagm = tuple(
        value.text or ""
        for attribute in root.iter(f"{{{SAML_NS}}}Attribute")
        if attribute.get("Name") == PAGM_ATTRIBUTE
        for value in attribute.iter(f"{{{SAML_NS}}}AttributeValue")
    )
    return VectorFacts(
        assertion_id=vector.assertion_id,
        subject=vector.acting_user,
        pagm=pagm,
        issued_at=root.get("IssueInstant") or "",
        not_before=conditions.get("NotBefore") if conditions is not None else "",
        not_on_or_after=conditions.get("NotOnOrAfter") if conditions is not None else "",
        assertion=vector.xml,
    )
