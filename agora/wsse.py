"""zeep plugin that puts the identity vector into a ``wsse:Security`` header.

The acting user (and their PAGM profiles) travel in ContextVars: the client sets it around each call,
in the worker thread that makes the call, so concurrent activities sharing one
zeep client never see each other's user. After a call, ``sent_vector_id``
holds the id of the assertion that went with it (for the trace of the
(request, VI) pair, SPEC §3).
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from lxml import etree
from zeep import Plugin

from agora.identity_vector import IdentityVectorFactory
from agora.operations import WSSE_NAMESPACE

SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"

acting_user: ContextVar[str | None] = ContextVar("agora_acting_user", default=None)
# The acting user's own PAGM profiles (None: the application's, from settings).
acting_pagm: ContextVar[tuple[str, ...] | None] = ContextVar("agora_acting_pagm", default=None)
sent_vector_id: ContextVar[str | None] = ContextVar("agora_sent_vector_id", default=None)


class IdentityVectorPlugin(Plugin):
    def __init__(self, factory: IdentityVectorFactory) -> None:
        self.factory = factory

    def egress(
        self, envelope: etree._Element, http_headers: dict, operation: Any, binding_options: Any
    ) -> tuple[etree._Element, dict]:
        vector = self.factory.vector_for(acting_user.get(), acting_pagm.get())
        add_security_header(envelope, etree.fromstring(vector.xml))
        sent_vector_id.set(vector.assertion_id)
        return envelope, http_headers


def add_security_header(envelope: etree._Element, assertion: etree._Element) -> None:
    """Append ``wsse:Security`` holding ``assertion`` to the envelope's SOAP header."""
    header = envelope.find(f"{{{SOAP11_NS}}}Header")
    if header is None:
        header = etree.Element(f"{{{SOAP11_NS}}}Header")
        envelope.insert(0, header)
    security = etree.SubElement(
        header, f"{{{WSSE_NAMESPACE}}}Security", nsmap={"wsse": WSSE_NAMESPACE}
    )
    security.set(f"{{{SOAP11_NS}}}mustUnderstand", "1")
    security.append(assertion)
