"""The identity vector (VI, SPEC §3): a signed SAML 2.0 assertion.

Built exactly as INTEROPS-A deployments do: Issuer = application id, NameID =
acting user (or NON_RENSEIGNE), bearer SubjectConfirmation to the provider,
a validity window, the audience, the authentication level and the PAGM
profiles; an enveloped XML-DSig with exclusive canonicalisation (so the
assertion stays valid once pasted into any SOAP envelope) and the leaf
certificate in KeyInfo.

Signing costs a few milliseconds, so :class:`IdentityVectorFactory` reuses a
VI per acting user while enough of its lifetime is left.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree
from signxml import XMLSigner
from signxml.algorithms import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConstructionMethod,
    SignatureMethod,
)

from agora.pki import SigningIdentity
from observability import metrics
from settings import Settings

SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
NAMEID_UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
ATTRNAME_BASIC = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"
ANONYMOUS_USER = "NON_RENSEIGNE"  # a call made by the application alone
PAGM_ATTRIBUTE = "PAGM"
PARTNER_ATTRIBUTE = "IdentifiantPartenaire"
APPLICATION_ATTRIBUTE = "IdentifiantApplication"

# Tolerates a provider whose clock runs ahead of ours.
DEFAULT_NOT_BEFORE_MARGIN_SECONDS = 300


def _saml(tag: str) -> str:
    return f"{{{SAML_NS}}}{tag}"


def format_instant(instant: dt.datetime) -> str:
    return instant.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Signer(XMLSigner):
    """XMLSigner that also accepts RSA-SHA1 when the partner's profile still needs it."""

    def __init__(self, algorithm: str) -> None:
        self._allow_sha1 = algorithm.lower() == "rsa-sha1"
        digest = "sha1" if self._allow_sha1 else algorithm.lower().removeprefix("rsa-")
        super().__init__(
            method=SignatureConstructionMethod.enveloped,
            signature_algorithm=SignatureMethod.from_fragment(algorithm.lower()),
            digest_algorithm=DigestAlgorithm.from_fragment(digest),
            c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
        )

    def check_deprecated_methods(self) -> None:
        if not self._allow_sha1:
            super().check_deprecated_methods()


def build_assertion(
    settings: Settings,
    identity: SigningIdentity,
    acting_user: str | None,
    *,
    now: dt.datetime,
    not_before_margin_seconds: int = DEFAULT_NOT_BEFORE_MARGIN_SECONDS,
    pagm: tuple[str, ...] | None = None,
) -> etree._Element:
    """Build and sign one assertion; returns the signed ``saml2:Assertion`` element.
    ``pagm``: the acting user's own profiles (None: the application's, from settings)."""
    assertion_id = f"_{uuid.uuid4().hex}"
    not_before = now - dt.timedelta(seconds=not_before_margin_seconds)
    not_on_or_after = now + dt.timedelta(seconds=settings.vi_lifetime_seconds)
    issue_instant = format_instant(now)

    nsmap = {"saml2": SAML_NS}
    root = etree.Element(
        _saml("Assertion"),
        nsmap=nsmap,
        ID=assertion_id,
        Version="2.0",
        IssueInstant=issue_instant,
    )
    etree.SubElement(root, _saml("Issuer")).text = settings.application_id
    # SAML's schema wants the signature right after Issuer: signxml fills this placeholder.
    etree.SubElement(root, f"{{{DS_NS}}}Signature", Id="placeholder", nsmap={"ds": DS_NS})

    subject = etree.SubElement(root, _saml("Subject"))
    name_id = etree.SubElement(subject, _saml("NameID"), Format=NAMEID_UNSPECIFIED)
    name_id.text = acting_user or ANONYMOUS_USER
    confirmation = etree.SubElement(subject, _saml("SubjectConfirmation"), Method=BEARER)
    etree.SubElement(
        confirmation,
        _saml("SubjectConfirmationData"),
        NotOnOrAfter=format_instant(not_on_or_after),
        Recipient=settings.vi_recipient,
    )

    conditions = etree.SubElement(
        root,
        _saml("Conditions"),
        NotBefore=format_instant(not_before),
        NotOnOrAfter=format_instant(not_on_or_after),
    )
    restriction = etree.SubElement(conditions, _saml("AudienceRestriction"))
    etree.SubElement(restriction, _saml("Audience")).text = settings.vi_audience

    authn = etree.SubElement(root, _saml("AuthnStatement"), AuthnInstant=issue_instant)
    context = etree.SubElement(authn, _saml("AuthnContext"))
    etree.SubElement(context, _saml("AuthnContextClassRef")).text = settings.vi_auth_level

    attributes = etree.SubElement(root, _saml("AttributeStatement"))
    _attribute(attributes, PAGM_ATTRIBUTE, settings.vi_pagm if pagm is None else pagm)
    _attribute(attributes, PARTNER_ATTRIBUTE, (settings.partner_id,))
    _attribute(attributes, APPLICATION_ATTRIBUTE, (settings.application_id,))

    return _Signer(settings.vi_signature_algorithm).sign(
        root,
        key=identity.private_key,
        cert=identity.cert_pem.decode("ascii"),
        reference_uri=f"#{assertion_id}",
        id_attribute="ID",
    )


def _attribute(parent: etree._Element, name: str, values: tuple[str, ...]) -> None:
    attribute = etree.SubElement(parent, _saml("Attribute"), Name=name, NameFormat=ATTRNAME_BASIC)
    for value in values:
        etree.SubElement(attribute, _saml("AttributeValue")).text = value


@dataclass(frozen=True)
class IdentityVector:
    assertion_id: str
    acting_user: str
    xml: bytes  # the signed assertion, serialised once
    not_on_or_after: float  # epoch seconds
    pagm: tuple[str, ...] | None = None  # the profiles signed in (None: the application's)


class IdentityVectorFactory:
    """Hands out a signed VI per acting user and PAGM profiles, re-signing only when the
    cached one has less than ``renew_margin_seconds`` of its lifetime left (a user whose
    profiles changed gets a new vector at once: the profiles are part of the cache key).

    Thread-safe: activities call it from a thread pool. ``signatures`` counts
    the signatures made (the benchmark reports it per 1000 calls).
    ``on_signed`` receives each new VI, e.g. to archive it (SPEC §3: the Region
    must be able to show the VI of any request).
    """

    def __init__(
        self,
        settings: Settings,
        identity: SigningIdentity,
        *,
        renew_margin_seconds: float | None = None,
        not_before_margin_seconds: int = DEFAULT_NOT_BEFORE_MARGIN_SECONDS,
        clock: Callable[[], float] = time.time,
        on_signed: Callable[[IdentityVector], None] | None = None,
    ) -> None:
        self._settings = settings
        self._identity = identity
        self._renew_margin = (
            settings.vi_lifetime_seconds / 10
            if renew_margin_seconds is None
            else renew_margin_seconds
        )
        self._not_before_margin = not_before_margin_seconds
        self._clock = clock
        self._on_signed = on_signed
        self._cache: dict[tuple[str, tuple[str, ...] | None], IdentityVector] = {}
        self._lock = threading.Lock()
        self.signatures = 0

    def vector_for(self, acting_user: str | None,
                   pagm: tuple[str, ...] | None = None) -> IdentityVector:
        user = acting_user or ANONYMOUS_USER
        key = (user, pagm)
        # One lock for lookup and signing: two threads needing the same user's VI
        # must not both sign it; signing takes ~2 ms, so contention stays low.
        with self._lock:
            now = self._clock()
            cached = self._cache.get(key)
            if cached is not None and cached.not_on_or_after - now > self._renew_margin:
                return cached
            vector = self._sign(user, now, pagm)
            self._cache[key] = vector
            self.signatures += 1
        metrics.VECTORS_SIGNED.inc()
        if self._on_signed is not None:
            try:
                self._on_signed(vector)
            except BaseException:
                # Not archived: forget it, so the next call signs (and archives) a new one
                # instead of sending a vector the archive never saw.
                with self._lock:
                    if self._cache.get(key) is vector:
                        del self._cache[key]
                raise
        return vector

    def assertion_for(self, acting_user: str | None,
                      pagm: tuple[str, ...] | None = None) -> etree._Element:
        """A fresh element (callers insert it into their own envelope)."""
        return etree.fromstring(self.vector_for(acting_user, pagm).xml)

    def _sign(self, user: str, now: float, pagm: tuple[str, ...] | None) -> IdentityVector:
        instant = dt.datetime.fromtimestamp(int(now), dt.UTC)
        signed = build_assertion(
            self._settings,
            self._identity,
            user,
            now=instant,
            not_before_margin_seconds=self._not_before_margin,
            pagm=pagm,
        )
        return IdentityVector(
            assertion_id=signed.get("ID"),
            acting_user=user,
            xml=etree.tostring(signed),
            not_on_or_after=int(now) + self._settings.vi_lifetime_seconds,
            pagm=pagm,
        )
