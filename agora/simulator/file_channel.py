"""The simulator's secure file channel (the CDC's SFE/CFT, Convention art. 7), served over
mutual TLS: only a client certificate issued by the trusted CA gets through the handshake.

It picks up request files (``agora/file_channel.py`` for the protocol) and leaves an answer
for each, by AGORA's rules for the backfill:
- a file that is not a valid document of ``reprise.xsd`` is refused whole (FICHIER_INVALIDE);
- NIR resolution: a deterministic register — a person's civil status gives one NIR, or none
  (INCONNU), or several candidates (MULTIPLE), in configurable shares;
- a backfill chunk: each record accepted with an AGORA dossier id, or rejected with a code:
  NIR_INVALIDE, SIRET_INVALIDE, DOSSIER_DEJA_CHARGE (its dossier number was loaded by
  another file), NIR_INCONNU (configurable share of NIRs unknown to the register);
- a file received again with the same digest is not processed again.
Faults on demand (admin): ``refuse_file`` (the next files refused whole), ``late_answer``
(answers withheld for ``delay_seconds``), ``reject_records`` (a share of records rejected
with ``code``), ``slow_deposit`` (a file received, its receipt answered ``delay_seconds`` late:
the client may give up, or die, not knowing it was received).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ssl
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request, Response

from agora import backfill_files as files
from agora import operations as ops
from agora.file_channel import DIGEST_HEADER
from agora.pki import ensure_dev_server_cert
from agora.simulator.config import ADMIN_TOKEN_HEADER
from agora.simulator.store import Store
from state_models.validators import ValidationError, validate_nir, validate_siret

FILE_FAULT_KINDS = frozenset({"refuse_file", "late_answer", "reject_records", "slow_deposit"})
_CORSICA = {"2A": "19", "2B": "18"}


@dataclass(frozen=True)
class ChannelRules:
    # Shares, in percent, of the deterministic register's answers.
    resolution_unknown_percent: int = 5
    resolution_several_percent: int = 3
    unknown_nir_percent: int = 1
    max_file_bytes: int = 64 * 1024 * 1024


@dataclass
class FileFault:
    kind: str
    count: int | None = None
    delay_seconds: float = 0.0
    rate: float = 1.0
    code: str = "REJET_SIMULE"

    def __post_init__(self) -> None:
        if self.kind not in FILE_FAULT_KINDS:
            raise ValueError(f"unknown file fault {self.kind!r}; expected {sorted(FILE_FAULT_KINDS)}")


@dataclass
class _Deposit:
    digest: str
    received: int = 1  # how many uploads of these bytes arrived (the first one processed)
    answer: bytes = b""
    ready_at: float = 0.0


@dataclass
class ChannelState:
    rules: ChannelRules = field(default_factory=ChannelRules)
    # The SOAP side's store: a dossier loaded by file is then known to the live operations
    # (an exit, a payment), and a holder already registered on the action is refused.
    store: Store | None = None
    deposits: dict[str, _Deposit] = field(default_factory=dict)
    loaded: dict[str, str] = field(default_factory=dict)  # dossier number → file that loaded it
    faults: list[FileFault] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take_fault(self, kind: str) -> FileFault | None:
        for fault in self.faults:
            if fault.kind == kind:
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count <= 0:
                        self.faults.remove(fault)
                return fault
        return None


def _share(*parts: str) -> int:
    """A stable number 0–99 from the parts: the register's answer never varies."""
    return hashlib.sha256("\x00".join(parts).encode()).digest()[0] * 100 // 256


def _register_nir(person: dict[str, str]) -> str:
    """The NIR the register holds for this civil status."""
    born = person["dateNaissance"]  # AAAA-MM-JJ
    place = person.get("codeLieuNaissance") or "99100"
    order = int(hashlib.sha256(repr(sorted(person.items())).encode()).hexdigest(), 16) % 999 + 1
    body = f"{person['sexe']}{born[2:4]}{born[5:7]}{place[:2]}{place[2:5]}{order:03d}"
    number = int(_CORSICA.get(body[5:7], body[5:7]).join((body[:5], body[7:])))
    return f"{body}{97 - number % 97:02d}"


def _resolve(state: ChannelState, people: list[dict[str, str]]) -> list[files.RecordAnswer]:
    rules = state.rules
    answers = []
    for person in people:
        share = _share(person["nomNaissance"], person["prenoms"], person["dateNaissance"])
        if share < rules.resolution_unknown_percent:
            answers.append(files.RecordAnswer(person["ref"], files.UNKNOWN))
        elif share < rules.resolution_unknown_percent + rules.resolution_several_percent:
            answers.append(files.RecordAnswer(person["ref"], files.SEVERAL, candidates=2))
        else:
            answers.append(files.RecordAnswer(person["ref"], files.FOUND, nir=_register_nir(person)))
    return answers


def _load(state: ChannelState, name: str, dossiers: list[dict[str, str]]) -> list[files.RecordAnswer]:
    fault = state.take_fault("reject_records")
    answers = []
    for dossier in dossiers:
        ref = dossier["ref"]
        rejected: tuple[str, str] | None = None
        try:
            validate_nir(dossier["nir"])
            validate_siret(dossier["siret"])
        except ValidationError as refused:
            code = "NIR_INVALIDE" if refused.field == "nir" else "SIRET_INVALIDE"
            rejected = (code, "Identifiant invalide (clé de contrôle).")
        if rejected is None and state.loaded.get(ref, name) != name:
            rejected = ("DOSSIER_DEJA_CHARGE", "Dossier déjà chargé par un autre fichier.")
        if rejected is None and state.store is not None:
            held = state.store.find_dossier(dossier["nir"], dossier["siret"], dossier["codeAction"])
            if held is not None and held["status"] not in (ops.STATUS_CANCELLED, ops.STATUS_SETTLED):
                rejected = ("DOSSIER_DEJA_ENREGISTRE",
                            "Titulaire déjà enregistré sur cette action (flux courant).")
        if rejected is None and _share("nir", dossier["nir"]) < state.rules.unknown_nir_percent:
            rejected = ("NIR_INCONNU", "NIR inconnu du répertoire national (RNIPP).")
        if rejected is None and fault is not None and _share("fault", ref) < fault.rate * 100:
            rejected = (fault.code, "Rejet simulé.")
        if rejected is not None:
            answers.append(files.RecordAnswer(ref, files.REJECTED, code=rejected[0],
                                              reason=rejected[1]))
            continue
        state.loaded[ref] = name
        agora_id = "AGR-R-" + hashlib.sha256(ref.encode()).hexdigest()[:12].upper()
        if state.store is not None:
            _register(state.store, agora_id, dossier)
        answers.append(files.RecordAnswer(ref, files.ACCEPTED, agora_id=agora_id))
    return answers


# A loaded dossier's AGORA status, from its legacy statut.
_STATUSES = {"EN_COURS": ops.STATUS_ENTERED, "TERMINE": ops.STATUS_EXITED,
             "ABANDON": ops.STATUS_EXITED, "ANNULE": ops.STATUS_CANCELLED}


def _register(store: Store, agora_id: str, dossier: dict[str, Any]) -> None:
    """The loaded dossier as AGORA holds it, as if registered by the live operations."""
    person = {"nir": dossier["nir"], "nomNaissance": dossier["nomNaissance"],
              "prenoms": dossier["prenoms"], "dateNaissance": dossier["dateNaissance"],
              "sexe": dossier["sexe"]}
    action = {"siretOrganisme": dossier["siret"], "idAction": dossier["codeAction"],
              "dateDebut": dossier.get("dateDebutSession") or dossier["dateEntree"],
              "financeurs": [{"codeFinanceur": code, "part": share}
                             for code, share in dossier[files.FUNDER]]}
    store.add_person(dossier["nir"], dossier["nomNaissance"])
    store.insert_dossier(agora_id, dossier["nir"], dossier["siret"], dossier["codeAction"],
                         _STATUSES.get(dossier.get("statut", ""), ops.STATUS_EXITED),
                         "RepriseAnteriorite",
                         {"idDossierRegion": f"REPRISE-{dossier['ref']}", "titulaire": person,
                          "actionFormation": action, "dateEntree": dossier["dateEntree"]})


def process(state: ChannelState, name: str, data: bytes) -> bytes:
    """AGORA's answer to request file ``name`` (called once per distinct file)."""
    file_digest = files.digest(data)
    resolution = name.startswith("RESOLUTION-")
    root, kind = (("DemandeResolutionNir", "individu") if resolution else ("LotReprise", "dossier"))
    write = files.resolution_answer if resolution else files.acknowledgement
    if state.take_fault("refuse_file") is not None:
        return write(name, file_digest, (), ("FICHIER_INVALIDE", "Fichier refusé (simulé)."))
    try:
        records = files.request_records(files.parse(data, root), kind)
    except files.BatchFileError as error:
        return write(name, file_digest, (), ("FICHIER_INVALIDE", f"Fichier refusé : {error}"))
    if resolution:
        return write(name, file_digest, _resolve(state, records))
    # One transaction per chunk at the SOAP side's store: all its records or none.
    with state.store.transaction() if state.store is not None else contextlib.nullcontext():
        return write(name, file_digest, _load(state, name, records))


def create_file_channel_app(rules: ChannelRules, admin_token: str | None,
                            store: Store | None = None) -> FastAPI:
    state = ChannelState(rules=rules, store=store)
    app = FastAPI(title="AGORA simulator — secure file channel", docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.channel = state

    @app.put("/sfe/depot/{name}")
    async def deposit(name: str, request: Request,
                      declared: Annotated[str, Header(alias=DIGEST_HEADER)] = "") -> Response:
        if not name.endswith(".xml") or "/" in name:
            raise HTTPException(422, "nom de fichier attendu : <nature>-<campagne>-<n>.xml")
        length = int(request.headers.get("content-length") or 0)
        if length > rules.max_file_bytes:
            raise HTTPException(413, "fichier trop volumineux")
        data = await request.body()
        if files.digest(data) != declared.lower():
            raise HTTPException(422, f"empreinte {DIGEST_HEADER} différente du contenu reçu")
        with state.lock:
            held = state.deposits.get(name)
            if held is not None:
                if held.digest != declared.lower():
                    raise HTTPException(409, "ce nom désigne déjà un autre fichier")
                held.received += 1
                return Response(status_code=200)
            late = state.take_fault("late_answer")
            answer = process(state, name, data)
            state.deposits[name] = _Deposit(
                digest=files.digest(data), answer=answer,
                ready_at=time.monotonic() + (late.delay_seconds if late else 0.0))
            slow = state.take_fault("slow_deposit")
        if slow is not None:
            await asyncio.sleep(slow.delay_seconds)
        return Response(status_code=201)

    @app.get("/sfe/depot/{name}")
    async def deposited(name: str) -> dict[str, str]:
        held = state.deposits.get(name)
        if held is None:
            raise HTTPException(404, "aucun fichier sous ce nom")
        return {"empreinte": held.digest}

    @app.get("/sfe/retrait/{name}")
    async def answer(name: str) -> Response:
        held = state.deposits.get(name)
        if held is None or time.monotonic() < held.ready_at:
            raise HTTPException(404, "pas de réponse (encore) pour ce fichier")
        return Response(held.answer, media_type="application/xml")

    def admin_only(token: Annotated[str | None, Header(alias=ADMIN_TOKEN_HEADER)] = None) -> None:
        if token is None or not hmac.compare_digest(token, admin_token or ""):
            raise HTTPException(403, f"jeton d'administration requis ({ADMIN_TOKEN_HEADER})")

    admin = APIRouter(prefix="/admin", dependencies=[Depends(admin_only)])

    @admin.get("/deposits")
    async def deposits() -> list[dict[str, Any]]:
        return [{"name": name, "digest": held.digest, "received": held.received}
                for name, held in state.deposits.items()]

    @admin.post("/faults")
    async def add_fault(fault: dict[str, Any]) -> dict[str, Any]:
        try:
            parsed = FileFault(**fault)
        except (TypeError, ValueError) as error:
            raise HTTPException(422, str(error)) from None
        with state.lock:
            state.faults.append(parsed)
        return asdict(parsed)

    @admin.post("/reset")
    async def reset() -> dict[str, str]:
        with state.lock:
            state.deposits.clear()
            state.loaded.clear()
            state.faults.clear()
        return {"status": "ok"}

    if admin_token is not None:
        app.include_router(admin)
    return app


def tls_options(pki_dir: Path, host: str, ca_cert: Path) -> dict[str, Any]:
    """uvicorn's TLS options for the channel: the dev CA's server certificate for ``host``,
    and a client certificate from that CA required at the handshake."""
    cert, key = ensure_dev_server_cert(pki_dir, host)
    return {"ssl_certfile": str(cert), "ssl_keyfile": str(key), "ssl_ca_certs": str(ca_cert),
            "ssl_cert_reqs": ssl.CERT_REQUIRED}
