"""The AGORA simulator: SOAP endpoint enforcing AGORA's rules, plus JSON admin endpoints.

POST /agora        SOAP 1.1: fault injection, VI check, XSD check, business rules
GET  /agora?wsdl   the WSDL, its soap:address pointing here (?xsd: the schema)
/admin/...         faults, reset, effects, requests, dossiers, stats (for tests)

Injected faults are decided before anything is applied, so a 503 or a timeout
leaves no effect; ``timeout_after_apply`` applies then answers too late, the
"lost answer" case a client must recover from by replaying.
"""

from __future__ import annotations

import asyncio
import hmac
from importlib import resources
from typing import Annotated, Any

from cryptography import x509
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request, Response
from lxml import etree

from agora import operations
from agora.body_limit import BodyLimit
from agora.simulator import rules
from agora.simulator.config import ADMIN_TOKEN_HEADER, SimulatorConfig
from agora.simulator.faults import SOAP11_NS, FaultInjector, FaultRule, SoapFault, fault_envelope
from agora.simulator.store import Store
from agora.simulator.vi_verifier import Claims, ViVerifier

XML_MEDIA_TYPE = "text/xml; charset=utf-8"
_LISTS = frozenset({"corrections", "financeurs"})  # repeated request elements (maxOccurs="unbounded")
# No blank-text removal: whitespace inside the signed assertion is part of its digest.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)


def _wsdl_text(name: str) -> str:
    return resources.files("agora").joinpath("wsdl", name).read_text(encoding="utf-8")


def _to_dict(element: etree._Element) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for child in element:
        if not isinstance(child.tag, str):
            continue  # comments, processing instructions
        name = etree.QName(child).localname
        value: Any = _to_dict(child) if len(child) else (child.text or "").strip()
        if name in _LISTS:
            result.setdefault(name, []).append(value)
        else:
            result[name] = value
    return result


def _append(parent: etree._Element, name: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, list):
        for item in value:
            _append(parent, name, item)
        return
    child = etree.SubElement(parent, f"{{{operations.NAMESPACE}}}{name}")
    if isinstance(value, dict):
        for key, item in value.items():
            _append(child, key, item)
    elif isinstance(value, bool):
        child.text = "true" if value else "false"
    else:
        child.text = str(value)


def answer_envelope(operation: str, answer: dict[str, Any]) -> bytes:
    envelope = etree.Element(
        f"{{{SOAP11_NS}}}Envelope", nsmap={"soap": SOAP11_NS, "agora": operations.NAMESPACE}
    )
    body = etree.SubElement(envelope, f"{{{SOAP11_NS}}}Body")
    _append(body, f"{operation}Reponse", answer)
    return etree.tostring(envelope, xml_declaration=True, encoding="utf-8")


class Simulator:
    """State shared by the endpoints (one per app)."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.store = Store(config.db_path)
        self.faults = FaultInjector(config.faults, seed=config.random_seed)
        self.schema = etree.XMLSchema(etree.fromstring(_wsdl_text("agora.xsd").encode()))
        cas = [
            x509.load_pem_x509_certificate(path.read_bytes()) for path in config.trusted_ca_certs
        ]
        self.verifier = ViVerifier(
            trusted_cas=cas,
            known_issuers=config.known_issuers,
            audience=config.audience,
            recipient=config.recipient,
            auth_levels=config.auth_levels,
            pagm_rights=config.pagm_rights,
            clock_skew_seconds=config.clock_skew_seconds,
            accept_sha1=config.accept_sha1,
            max_validity_seconds=config.max_vi_validity_seconds,
        )

    async def handle_soap(self, payload: bytes) -> Response:
        try:
            envelope = etree.fromstring(payload, _PARSER)
        except etree.XMLSyntaxError:
            return self._fault(
                "?", None, operations.FAULT_INVALID_DATA, "Message SOAP mal formé (XML illisible)."
            )
        if envelope.getroottree().docinfo.doctype or envelope.getroottree().docinfo.internalDTD:
            # SOAP 1.1 forbids a DTD; entities are never expanded (XXE, billion laughs).
            return self._fault(
                "?", None, operations.FAULT_INVALID_DATA,
                "Message SOAP refusé : une DTD ou des entités sont interdites.")
        body = envelope.find(f"{{{SOAP11_NS}}}Body")
        request = (
            next((c for c in body if isinstance(c.tag, str)), None) if body is not None else None
        )
        qname = etree.QName(request) if request is not None else None
        if (
            qname is None
            or qname.namespace != operations.NAMESPACE
            or qname.localname not in operations.BY_SOAP_NAME
        ):
            return self._fault(
                "?", None, operations.FAULT_INVALID_DATA, "Opération inconnue ou corps SOAP vide."
            )
        operation = qname.localname
        fields = _to_dict(request)
        ids = {"request_id": fields.get("idRequete"), "dossier_id": fields.get("idDossierAgora")}

        injected = self.faults.pick(operation)
        if injected is not None and injected.kind != "timeout_after_apply":
            early = await self._inject(injected, operation, ids)
            if early is not None:
                return early

        claims: Claims | None = None
        try:
            if self.config.require_vi:
                claims = self.verifier.verify(envelope, operation)
            if not self.schema.validate(etree.ElementTree(request)):
                error = self.schema.error_log.last_error
                raise SoapFault(
                    operations.FAULT_INVALID_DATA,
                    f"Données invalides : {error.message if error else ''}",
                )
            with self.store.transaction():
                outcome = rules.handle(self.store, operation, fields, self.config.check_identifiers)
                self.store.record_request(
                    operation=operation,
                    outcome=outcome.outcome,
                    http_status=200,
                    request_id=ids["request_id"],
                    dossier_id=outcome.dossier_id or ids["dossier_id"],
                    **_who(claims),
                )
        except SoapFault as fault:
            return self._fault(operation, claims, fault.code, fault.message, **ids)
        response = Response(answer_envelope(operation, outcome.answer), media_type=XML_MEDIA_TYPE)
        if injected is not None:  # timeout_after_apply: applied, but the answer comes too late
            await asyncio.sleep(injected.delay)
        return response

    async def _inject(
        self, rule: FaultRule, operation: str, ids: dict[str, Any]
    ) -> Response | None:
        """The injected failure's response, or None to go on (``slow``)."""
        if rule.kind in ("slow", "timeout"):
            await asyncio.sleep(rule.delay)  # never block the loop: other calls go on meanwhile
            if rule.kind == "slow":
                return None
        if rule.kind == "soap_fault":
            code = rule.fault_code or operations.FAULT_SERVER
            return self._fault(
                operation, None, code, rule.message or "Erreur simulée.", outcome="injected", **ids
            )
        self.store.record_request(
            operation=operation,
            outcome="injected",
            http_status=503,
            fault_code=f"HTTP503:{rule.kind}",
            **ids,
        )
        headers = {"Retry-After": str(rule.retry_after)} if rule.retry_after is not None else {}
        return Response(
            rule.message or "Service AGORA indisponible.",
            status_code=503,
            media_type="text/plain; charset=utf-8",
            headers=headers,
        )

    def _fault(
        self,
        operation: str,
        claims: Claims | None,
        code: str,
        message: str,
        outcome: str = "fault",
        request_id: str | None = None,
        dossier_id: str | None = None,
    ) -> Response:
        self.store.record_request(
            operation=operation,
            outcome=outcome,
            http_status=500,
            fault_code=code,
            request_id=request_id,
            dossier_id=dossier_id,
            **_who(claims),
        )
        return Response(fault_envelope(code, message), status_code=500, media_type=XML_MEDIA_TYPE)


def _who(claims: Claims | None) -> dict[str, str | None]:
    if claims is None:
        return {"acting_user": None, "assertion_id": None}
    return {"acting_user": claims.subject, "assertion_id": claims.assertion_id}


def create_app(config: SimulatorConfig) -> FastAPI:
    simulator = Simulator(config)
    with_admin = config.admin_token is not None
    app = FastAPI(
        title="AGORA simulator",
        docs_url="/admin/docs" if with_admin else None,
        openapi_url="/admin/openapi.json" if with_admin else None,
    )
    app.state.simulator = simulator
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)

    def admin_only(token: Annotated[str | None, Header(alias=ADMIN_TOKEN_HEADER)] = None) -> None:
        if token is None or not hmac.compare_digest(token, config.admin_token or ""):
            raise HTTPException(403, f"jeton d'administration requis ({ADMIN_TOKEN_HEADER})")

    admin = APIRouter(prefix="/admin", dependencies=[Depends(admin_only)])

    @app.post("/agora")
    async def soap(request: Request) -> Response:
        return await simulator.handle_soap(await request.body())

    @app.get("/agora")
    async def wsdl(request: Request) -> Response:
        here = str(request.url.replace(query=""))
        if "xsd" in request.query_params:
            return Response(_wsdl_text("agora.xsd"), media_type=XML_MEDIA_TYPE)
        if "wsdl" not in request.query_params:
            raise HTTPException(404, "GET /agora?wsdl or /agora?xsd")
        text = _wsdl_text("agora.wsdl")
        text = text.replace('schemaLocation="agora.xsd"', f'schemaLocation="{here}?xsd"')
        text = text.replace('location="http://127.0.0.1:8088/agora"', f'location="{here}"')
        return Response(text, media_type=XML_MEDIA_TYPE)

    @admin.post("/faults")
    async def add_fault(rule: dict[str, Any]) -> dict[str, Any]:
        try:
            parsed = FaultRule(**rule)
        except (TypeError, ValueError) as exc:
            raise HTTPException(422, str(exc)) from None
        simulator.faults.add(parsed)
        return parsed.as_dict()

    @admin.get("/faults")
    async def list_faults() -> list[dict[str, Any]]:
        return simulator.faults.rules()

    @admin.delete("/faults")
    async def clear_faults() -> dict[str, str]:
        simulator.faults.clear()
        return {"status": "ok"}

    @admin.post("/reset")
    async def reset() -> dict[str, str]:
        simulator.store.reset()
        return {"status": "ok"}

    @admin.get("/effects")
    async def effects(
        operation: str | None = None, dossier: str | None = None
    ) -> list[dict[str, Any]]:
        return simulator.store.effects(operation, dossier)

    @admin.get("/requests")
    async def requests_(
        operation: str | None = None, outcome: str | None = None
    ) -> list[dict[str, Any]]:
        return simulator.store.requests(operation, outcome)

    @admin.get("/dossiers")
    async def dossiers() -> list[dict[str, Any]]:
        return simulator.store.all_dossiers()

    @admin.get("/stats")
    async def stats() -> dict[str, Any]:
        return {
            "operations": simulator.store.stats(),
            "signature_checks": simulator.verifier.signature_checks,
        }

    if with_admin:  # development only (see settings.simulator_admin)
        app.include_router(admin)
    return app
