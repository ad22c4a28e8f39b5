"""The backfill's batch files (Convention art. 7), schema ``agora/wsdl/reprise.xsd``.

Both sides use this module: the Region's activities write requests and read answers, the
simulator reads requests and writes answers. A file is identified by its name and by the
SHA-256 digest of its bytes; the bytes of a request depend only on its records and its
name, so writing a chunk again (a retried activity) gives the same digest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from lxml import etree

from state_models.backfill import LegacyRecord

NAMESPACE = "urn:agora-flow:reprise:v1"
_NS = f"{{{NAMESPACE}}}"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)

# File statuses of an answer, and AGORA's outcome of each record.
FILE_PROCESSED = "TRAITE"
FILE_REFUSED = "REFUSE"
FOUND, UNKNOWN, SEVERAL = "TROUVE", "INCONNU", "MULTIPLE"
ACCEPTED, REJECTED = "ACCEPTE", "REJETE"


class BatchFileError(ValueError):
    """A file that is not a valid document of the schema; ``str(error)`` is the French reason."""


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@cache
def schema() -> etree.XMLSchema:
    text = resources.files("agora").joinpath("wsdl", "reprise.xsd").read_bytes()
    return etree.XMLSchema(etree.fromstring(text, _PARSER))


def parse(data: bytes, root: str) -> etree._Element:
    """``data`` as a valid document whose root is ``root``; raise BatchFileError otherwise
    (a DTD or an entity is refused, never expanded)."""
    try:
        element = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError:
        raise BatchFileError("XML illisible.") from None
    tree = element.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD:
        raise BatchFileError("Une DTD ou des entités sont interdites.")
    if element.tag != _NS + root:
        raise BatchFileError(f"Élément racine inattendu : {etree.QName(element).localname} "
                             f"au lieu de {root}.")
    if not schema().validate(tree):
        error = schema().error_log.last_error
        raise BatchFileError(f"Non conforme au schéma reprise.xsd (ligne {error.line if error else '?'}).")
    return element


def _element(name: str, value: object | None) -> str:
    if value is None or value == "":
        return ""
    return f"<{name}>{escape(str(value))}</{name}>"


def _open(root: str, **attributes: object) -> str:
    attrs = "".join(f" {name}={quoteattr(str(value))}" for name, value in attributes.items()
                    if value is not None)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{NAMESPACE}"{attrs}>\n'


def _civil_status(record: LegacyRecord) -> str:
    return (_element("nomNaissance", record.birth_name) + _element("prenoms", record.first_names)
            + _element("dateNaissance", record.birth_date.isoformat())
            + _element("sexe", record.sex) + _element("codeLieuNaissance", record.birth_place))


def resolution_request(campaign: str, records: Iterable[LegacyRecord], count: int) -> bytes:
    """The civil status of each of the ``count`` persons whose NIR is missing (``ref``: the
    dossier number); ``records`` is read once, as a stream."""
    parts = [_open("DemandeResolutionNir", campagne=campaign, nombre=count)]
    parts += [f"<individu ref={quoteattr(record.num_dossier)}>{_civil_status(record)}</individu>\n"
              for record in records]
    parts.append("</DemandeResolutionNir>\n")
    return "".join(parts).encode()


def backfill_chunk(campaign: str, number: int, records: Sequence[LegacyRecord]) -> bytes:
    """One chunk of dossiers to load; every record has its NIR."""
    parts = [_open("LotReprise", campagne=campaign, lot=number, nombre=len(records))]
    for record in records:
        amount = f"{record.remuneration:.2f}" if record.remuneration is not None else None
        parts.append(
            f"<dossier ref={quoteattr(record.num_dossier)}>" + _element("nir", record.nir)
            + _civil_status(record)
            + _element("siret", record.siret) + _element("codeAction", record.action_code)
            + _element("intituleAction", record.action_title)
            + _element("codeCertification", record.certification_code)
            + _element("dureeHeures", record.duration_hours)
            + _element("dateDebutSession", _iso(record.session_start))
            + _element("dateFinSession", _iso(record.session_end))
            + _element("dateEntree", record.entry_date.isoformat())
            + _element("dateSortie", _iso(record.exit_date))
            + _element("motifSortie", record.exit_reason)
            + _element("montantRemunere", amount) + _element("statut", record.status)
            + "".join(f"<financeur code={quoteattr(code)} part={quoteattr(share)}/>"
                      for code, share in record.funders)
            + "</dossier>\n")
    parts.append("</LotReprise>\n")
    return "".join(parts).encode()


def records_in(request: bytes) -> int:
    """How many records a request file of ours holds (each opens its own element; a value
    quoting one is escaped)."""
    return request.count(b"<individu ") + request.count(b"<dossier ")


def _iso(value: object | None) -> str | None:
    return value.isoformat() if value is not None else None  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Answer:
    """AGORA's answer to one request file: processed or refused whole, then per record."""

    file_name: str
    file_digest: str
    processed: bool
    code: str
    reason: str
    records: tuple[RecordAnswer, ...]


@dataclass(frozen=True)
class RecordAnswer:
    ref: str
    status: str  # TROUVE | INCONNU | MULTIPLE, or ACCEPTE | REJETE
    nir: str = ""  # a resolution's NIR found (personal data: never logged)
    agora_id: str = ""
    code: str = ""
    reason: str = ""
    candidates: int = 0


def _answer(root: str, file_name: str, file_digest: str, body: Iterable[str],
            refused: tuple[str, str] | None) -> bytes:
    status = FILE_REFUSED if refused else FILE_PROCESSED
    code, reason = refused or (None, None)
    return (_open(root, fichier=file_name, empreinte=file_digest, statutFichier=status,
                  code=code, motif=reason) + "".join(body) + f"</{root}>\n").encode()


def resolution_answer(file_name: str, file_digest: str, results: Iterable[RecordAnswer],
                      refused: tuple[str, str] | None = None) -> bytes:
    body = (f"<resultat ref={quoteattr(result.ref)} statut={quoteattr(result.status)}"
            + (f" candidats=\"{result.candidates}\"" if result.candidates else "") + ">"
            + _element("nir", result.nir or None) + "</resultat>\n" for result in results)
    return _answer("ReponseResolutionNir", file_name, file_digest, body, refused)


def acknowledgement(file_name: str, file_digest: str, results: Iterable[RecordAnswer],
                    refused: tuple[str, str] | None = None) -> bytes:
    def line(result: RecordAnswer) -> str:
        attributes = {"ref": result.ref, "statut": result.status,
                      "idDossierAgora": result.agora_id or None, "code": result.code or None,
                      "motif": result.reason or None}
        return "<enregistrement" + "".join(f" {k}={quoteattr(v)}" for k, v in attributes.items()
                                          if v is not None) + "/>\n"
    return _answer("AccuseReception", file_name, file_digest, map(line, results), refused)


def read_answer(data: bytes, root: str) -> Answer:
    """A ReponseResolutionNir or an AccuseReception; raise BatchFileError."""
    element = parse(data, root)
    records = []
    for child in element:
        if not isinstance(child.tag, str):
            continue
        nir = child.findtext(_NS + "nir") or ""
        records.append(RecordAnswer(
            ref=child.get("ref", ""), status=child.get("statut", ""), nir=nir,
            agora_id=child.get("idDossierAgora", ""), code=child.get("code", ""),
            reason=child.get("motif", ""), candidates=int(child.get("candidats", "0"))))
    return Answer(file_name=element.get("fichier", ""), file_digest=element.get("empreinte", ""),
                  processed=element.get("statutFichier") == FILE_PROCESSED,
                  code=element.get("code", ""), reason=element.get("motif", ""),
                  records=tuple(records))


FUNDER = "financeur"


def request_records(element: etree._Element, kind: str) -> list[dict[str, Any]]:
    """The records of a parsed request (``individu`` or ``dossier``) as {field: text}, with
    the record's ``ref`` (the simulator's reading); a dossier's funders under ``financeur``
    as a list of (code, share)."""
    rows = []
    for child in element.iterchildren(_NS + kind):
        row: dict[str, Any] = {etree.QName(value).localname: (value.text or "")
                               for value in child if etree.QName(value).localname != FUNDER}
        row[FUNDER] = [(f.get("code", ""), f.get("part", ""))
                       for f in child.iterchildren(_NS + FUNDER)]
        row["ref"] = child.get("ref", "")
        rows.append(row)
    return rows
