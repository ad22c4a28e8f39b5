"""Checks an identity vector the way a provider does (SPEC §3), one fault code per refusal.

The costly part (certificate chain, XML signature: about 1 ms) is cached, as a
provider may: keyed by the SHA-256 digest of the assertion's exclusive canonical
form (what the signature covers, ID included), kept until the assertion's
NotOnOrAfter. A reused VI is verified once; any change to a signed byte gives
another digest, so a tampered copy of a cached VI is verified, and refused. The
claims that depend on time or on the operation are checked on every call.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from lxml import etree
from signxml import XMLVerifier
from signxml.algorithms import DigestAlgorithm, SignatureMethod
from signxml.exceptions import SignXMLException
from signxml.verifier import SignatureConfiguration

from agora import operations
from agora.identity_vector import DS_NS, PAGM_ATTRIBUTE, SAML_NS
from agora.pki import common_name
from agora.simulator.faults import SOAP11_NS, SoapFault

_NS = {"soap": SOAP11_NS, "wsse": operations.WSSE_NAMESPACE, "saml2": SAML_NS, "ds": DS_NS}


@dataclass(frozen=True)
class Claims:
    """What a verified assertion says."""

    assertion_id: str
    issuer: str
    subject: str
    cert_common_name: str
    not_before: dt.datetime | None
    not_on_or_after: dt.datetime | None
    audiences: tuple[str, ...]
    recipients: tuple[str, ...]
    auth_levels: tuple[str, ...]
    pagm: tuple[str, ...]


class ViVerifier:
    def __init__(
        self,
        *,
        trusted_cas: Iterable[x509.Certificate],
        known_issuers: Iterable[str],
        audience: str,
        recipient: str,
        auth_levels: Iterable[str],
        pagm_rights: Mapping[str, frozenset[str]],
        clock_skew_seconds: float,
        accept_sha1: bool = False,
        max_validity_seconds: float = 7200.0,
        cache_size: int = 4096,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._trusted_cas = tuple(trusted_cas)
        self._known_issuers = frozenset(known_issuers)
        self._audience = audience
        self._recipient = recipient
        self._auth_levels = frozenset(auth_levels)
        self._pagm_rights = pagm_rights
        self._skew = dt.timedelta(seconds=clock_skew_seconds)
        self._max_validity = dt.timedelta(seconds=max_validity_seconds)
        self._clock = clock
        methods = set(SignatureConfiguration().signature_methods)
        digests = set(SignatureConfiguration().digest_algorithms)
        if accept_sha1:
            methods.add(SignatureMethod.RSA_SHA1)
            digests.add(DigestAlgorithm.SHA1)
        self._signature_config = SignatureConfiguration(
            signature_methods=frozenset(methods),
            digest_algorithms=frozenset(digests),
            location="./",
        )
        # digest -> (claims, epoch seconds after which the entry is dropped); oldest use first.
        self._cache: OrderedDict[bytes, tuple[Claims, float]] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self.signature_checks = 0  # cryptographic verifications actually made

    def verify(self, envelope: etree._Element, operation: str) -> Claims:
        """Claims of the envelope's VI, or :class:`SoapFault` with the provider's code."""
        assertion = envelope.find("soap:Header/wsse:Security/saml2:Assertion", _NS)
        if assertion is None:
            raise SoapFault(
                operations.FAULT_INVALID_TOKEN,
                "Vecteur d'identification absent : en-tête wsse:Security ou assertion SAML manquant.",
            )
        # Exclusive c14n: the assertion's bytes do not depend on the envelope around it.
        canonical = etree.tostring(assertion, method="c14n", exclusive=True)
        key = hashlib.sha256(canonical).digest()
        claims = self._cached(key)
        if claims is None:
            claims = self._verify_signature(etree.fromstring(canonical))
            self._remember(key, claims)
        self._check_claims(claims, operation)
        return claims

    def _cached(self, key: bytes) -> Claims | None:
        with self._lock:
            entry = self._cache.get(key)
            if entry is None:
                return None
            if entry[1] <= self._clock():
                del self._cache[key]  # past its NotOnOrAfter: a new VI is due
                return None
            self._cache.move_to_end(key)
            return entry[0]

    def _remember(self, key: bytes, claims: Claims) -> None:
        if claims.not_on_or_after is None or self._cache_size <= 0:
            return  # refused by the claims check anyway; nothing worth keeping
        # The claims check accepts the VI until NotOnOrAfter plus the tolerated skew.
        until = (claims.not_on_or_after + self._skew).timestamp()
        with self._lock:
            # A new VI is rare (one per user and lifetime): sweep the expired ones then.
            now = self._clock()
            for expired in [k for k, (_, end) in self._cache.items() if end <= now]:
                del self._cache[expired]
            self._cache[key] = (claims, until)
            self._cache.move_to_end(key)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def _verify_signature(self, assertion: etree._Element) -> Claims:
        if not assertion.get("ID") or assertion.find("ds:Signature", _NS) is None:
            raise SoapFault(
                operations.FAULT_INVALID_TOKEN,
                "Assertion SAML mal formée : identifiant ou signature absent.",
            )
        cert_text = assertion.findtext(
            "ds:Signature/ds:KeyInfo/ds:X509Data/ds:X509Certificate", namespaces=_NS
        )
        if not cert_text:
            raise SoapFault(
                operations.FAULT_INVALID_TOKEN,
                "Assertion SAML mal formée : certificat absent de KeyInfo.",
            )
        try:
            leaf = x509.load_der_x509_certificate(base64.b64decode("".join(cert_text.split())))
        except ValueError:
            raise SoapFault(
                operations.FAULT_INVALID_TOKEN, "Certificat de signature illisible."
            ) from None
        self._check_chain(leaf)
        try:
            result = XMLVerifier().verify(
                assertion, x509_cert=leaf, id_attribute="ID", expect_config=self._signature_config
            )
        except (SignXMLException, ValueError) as exc:
            raise SoapFault(
                operations.FAULT_FAILED_CHECK, f"Signature du VI invalide : {exc}"
            ) from None
        with self._lock:
            self.signature_checks += 1
        signed = result.signed_xml
        # Only what the signature covers counts: the signed element must be this very assertion.
        if (
            signed is None
            or signed.tag != f"{{{SAML_NS}}}Assertion"
            or signed.get("ID") != assertion.get("ID")
        ):
            raise SoapFault(
                operations.FAULT_FAILED_CHECK, "La signature ne couvre pas l'assertion."
            )
        return _claims(signed, common_name(leaf))

    def _check_chain(self, leaf: x509.Certificate) -> None:
        if leaf.issuer == leaf.subject:
            raise SoapFault(
                operations.FAULT_FAILED_CHECK,
                "Certificat auto-signé refusé : il doit être émis par une IGC.",
            )
        for ca in self._trusted_cas:
            if ca.subject != leaf.issuer:
                continue
            try:
                leaf.verify_directly_issued_by(ca)
            except (ValueError, TypeError, InvalidSignature):
                continue
            now = dt.datetime.fromtimestamp(self._clock(), dt.UTC)
            if not leaf.not_valid_before_utc <= now < leaf.not_valid_after_utc:
                raise SoapFault(
                    operations.FAULT_FAILED_CHECK,
                    "Certificat de signature hors de sa période de validité.",
                )
            return
        raise SoapFault(
            operations.FAULT_FAILED_CHECK,
            "Certificat de signature non émis par une autorité de confiance.",
        )

    def _check_claims(self, claims: Claims, operation: str) -> None:
        now = dt.datetime.fromtimestamp(self._clock(), dt.UTC)
        if claims.not_on_or_after is None:
            raise SoapFault(operations.FAULT_INVALID_VI, "VI sans date de fin de validité.")
        start = claims.not_before or now
        if claims.not_on_or_after - start > self._max_validity + self._skew:
            raise SoapFault(operations.FAULT_INVALID_VI,
                            "VI valide plus longtemps que ne le permet la convention "
                            f"(au plus {self._max_validity.total_seconds():g} s).")
        if claims.not_before is not None and now + self._skew < claims.not_before:
            raise SoapFault(operations.FAULT_INVALID_VI, "VI pas encore valide (NotBefore).")
        if now - self._skew >= claims.not_on_or_after:
            raise SoapFault(operations.FAULT_INVALID_VI, "VI expiré (NotOnOrAfter).")
        if self._audience not in claims.audiences:
            raise SoapFault(
                operations.FAULT_INVALID_SERVICE,
                f"Audience du VI non reconnue : {', '.join(claims.audiences) or 'aucune'}.",
            )
        if self._recipient not in claims.recipients:
            raise SoapFault(
                operations.FAULT_INVALID_SERVICE, "Destinataire (Recipient) du VI non reconnu."
            )
        if claims.issuer not in self._known_issuers:
            raise SoapFault(
                operations.FAULT_INVALID_ISSUER,
                f"Application émettrice inconnue : {claims.issuer}.",
            )
        if claims.issuer != claims.cert_common_name:
            raise SoapFault(
                operations.FAULT_INVALID_ISSUER,
                "L'émetteur du VI ne correspond pas au certificat de signature.",
            )
        if not self._auth_levels.intersection(claims.auth_levels):
            raise SoapFault(
                operations.FAULT_INVALID_AUTH_LEVEL, "Niveau d'authentification non accepté."
            )
        granted = self._pagm_rights.get(operation, frozenset())
        rights = {value.split(";", 1)[0].strip() for value in claims.pagm}
        if not granted.intersection(rights):
            raise SoapFault(
                operations.FAULT_INVALID_PAGM,
                f"Aucun profil PAGM n'autorise l'opération {operation}.",
            )


def _claims(assertion: etree._Element, cert_cn: str) -> Claims:
    conditions = assertion.find("saml2:Conditions", _NS)
    pagm_path = (
        f"saml2:AttributeStatement/saml2:Attribute[@Name='{PAGM_ATTRIBUTE}']/saml2:AttributeValue"
    )
    return Claims(
        assertion_id=assertion.get("ID", ""),
        issuer=(assertion.findtext("saml2:Issuer", namespaces=_NS) or "").strip(),
        subject=(assertion.findtext("saml2:Subject/saml2:NameID", namespaces=_NS) or "").strip(),
        cert_common_name=cert_cn,
        not_before=_instant(conditions, "NotBefore"),
        not_on_or_after=_instant(conditions, "NotOnOrAfter"),
        audiences=_texts(assertion, "saml2:Conditions/saml2:AudienceRestriction/saml2:Audience"),
        recipients=tuple(
            el.get("Recipient", "")
            for el in assertion.iterfind(
                "saml2:Subject/saml2:SubjectConfirmation/saml2:SubjectConfirmationData", _NS
            )
        ),
        auth_levels=_texts(
            assertion, "saml2:AuthnStatement/saml2:AuthnContext/saml2:AuthnContextClassRef"
        ),
        pagm=_texts(assertion, pagm_path),
    )


def _texts(element: etree._Element, path: str) -> tuple[str, ...]:
    return tuple((el.text or "").strip() for el in element.iterfind(path, _NS))


def _instant(element: etree._Element | None, attribute: str) -> dt.datetime | None:
    if element is None or element.get(attribute) is None:
        return None
    try:
        value = dt.datetime.fromisoformat(element.get(attribute))
    except ValueError:
        raise SoapFault(
            operations.FAULT_INVALID_TOKEN, f"Date {attribute} illisible dans le VI."
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
