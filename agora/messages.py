"""Request and answer messages of the AGORA operations.

Our code speaks English; AGORA speaks French. The mapping between the two is
written here once: each request dataclass knows its operation and turns itself
into the French element names of the XSD (``agora/wsdl/agora.xsd``).
All fields are JSON-friendly so the same dataclasses travel as Temporal
activity inputs.
"""


from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from state_models.funders import region_only

# English field name -> AGORA element name. One table for every message.
FRENCH_NAMES: dict[str, str] = {
    "request_id": "idRequete",
    "region_dossier_id": "idDossierRegion",
    "agora_dossier_id": "idDossierAgora",
    "market_reference": "referenceMarche",
    "nir": "nir",
    "birth_name": "nomNaissance",
    "usage_name": "nomUsage",
    "first_names": "prenoms",
    "birth_date": "dateNaissance",
    "sex": "sexe",
    "email": "courriel",
    "phone": "telephone",
    "person": "titulaire",
    "action": "actionFormation",
    "siret": "siretOrganisme",
    "action_id": "idAction",
    "title": "intitule",
    "certification_code": "codeCertification",
    "duration_hours": "dureeHeures",
    "start_date": "dateDebut",
    "end_date": "dateFin",
    "purchase_mode": "modeAchat",
    "price": "prix",
    "funders": "financeurs",
    "code": "codeFinanceur",
    "share": "part",
    "validation_date": "dateValidation",
    "entry_date": "dateEntree",
    "entry_kind": "natureEntree",
    "job_seeker_since": "demandeurEmploiDepuis",
    "france_travail_registered": "inscritFranceTravail",
    "socio_professional_category": "categorieSocioProfessionnelle",
    "last_contract_type": "dernierContrat",
    "reason_code": "codeMotif",
    "payment_id": "idPaiement",
    "payment_date": "datePaiement",
    "amount": "montant",
    "exit_date": "dateSortie",
    "exit_kind": "natureSortie",
    "reason": "motif",
    "settlement_date": "dateSolde",
    "amount_paid": "montantVerse",
    "corrections": "corrections",
    "name": "nom",
    "value": "valeur",
    "dif_hours": "heuresDif",
    # answers (acknowledgements and reads)
    "status": "statut",
    "ack_id": "idAccuse",
    "replay": "rejeu",
    "cpf_hours": "heuresCpf",
    "cpf_amount": "montantCpf",
}
ENGLISH_NAMES: dict[str, str] = {fr: en for en, fr in FRENCH_NAMES.items()}

# AGORA's own codes for kinds of entry and exit.
ENTRY_FIRST = "ENTREE"
ENTRY_RESUME = "REPRISE"
ENTRY_FIRST_PAYMENT = "PREMIER_PAIEMENT"  # the first payment declares the entry
EXIT_INTERRUPTION = "INTERRUPTION"
EXIT_FINAL = "SORTIE_DEFINITIVE"


def to_french(value: Any) -> Any:
    """Recursively rename English keys to AGORA's element names; drop None."""
    if isinstance(value, dict):
        return {FRENCH_NAMES.get(k, k): to_french(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [to_french(v) for v in value]
    return value


def element_name(field: str) -> str:
    """AGORA's element name for one of our field names (a correction names the element)."""
    return FRENCH_NAMES.get(field, field)


def to_english(value: Any) -> Any:
    if isinstance(value, dict):
        return {ENGLISH_NAMES.get(k, k): to_english(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_english(v) for v in value]
    return value


@dataclass
class Request:
    operation: ClassVar[str]

    def to_agora(self) -> dict[str, Any]:
        return to_french(asdict(self))


@dataclass
class Person:
    nir: str
    birth_name: str
    first_names: str
    birth_date: str  # ISO date
    sex: str  # "1" man, "2" woman, as in the NIR
    usage_name: str | None = None
    email: str | None = None
    phone: str | None = None


@dataclass
class Funder:
    """One funder of the training action: its LHÉO financer code (state_models/funders.py)
    and its share in percent, as decimal text with two decimals."""

    code: str
    share: str


def region_funders() -> list[Funder]:
    """The Region's own programme funds a dossier alone unless told otherwise."""
    return [Funder(code, share) for code, share in region_only()]


@dataclass
class TrainingAction:
    siret: str
    action_id: str
    title: str
    duration_hours: int
    start_date: str
    end_date: str
    certification_code: str | None = None
    purchase_mode: str = "MARCHE_PUBLIC"
    price: str | None = None  # decimal as text, euros
    # Its funders with their shares; a dossier recorded before funders were carried decodes
    # with the Region's default.
    funders: list[Funder] = field(default_factory=region_funders)


@dataclass
class CheckNirName(Request):
    operation: ClassVar[str] = "ControlerUniciteNirNom"
    nir: str
    birth_name: str


@dataclass
class FindOrCreateDossier(Request):
    operation: ClassVar[str] = "RechercherOuCreerDossier"
    request_id: str
    region_dossier_id: str
    person: Person
    action: TrainingAction


@dataclass
class ValidateDossier(Request):
    operation: ClassVar[str] = "ValiderDossier"
    request_id: str
    agora_dossier_id: str
    validation_date: str


@dataclass
class EnterTraining(Request):
    operation: ClassVar[str] = "EntrerEnFormation"
    request_id: str
    agora_dossier_id: str
    entry_date: str
    entry_kind: str = ENTRY_FIRST
    job_seeker_since: str | None = None
    # The situation at entry (codes of state_models/dossier_data.py).
    france_travail_registered: bool | None = None
    socio_professional_category: str | None = None
    last_contract_type: str | None = None


@dataclass
class DeclarePayment(Request):
    operation: ClassVar[str] = "DeclarerRemuneration"
    request_id: str
    agora_dossier_id: str
    payment_id: str
    payment_date: str
    amount: str  # decimal as text, euros
    # The holder as the Region knows them now (a correction included): AGORA checks the
    # NIR/name pair against its dossier, as at registration.
    nir: str | None = None
    birth_name: str | None = None


@dataclass
class ExitTraining(Request):
    operation: ClassVar[str] = "SortirDeFormation"
    request_id: str
    agora_dossier_id: str
    exit_date: str
    exit_kind: str
    reason: str
    reason_code: str | None = None  # state_models/dossier_data.py EXIT_REASONS


@dataclass
class SettleAction(Request):
    operation: ClassVar[str] = "SolderAction"
    request_id: str
    settlement_date: str
    amount_paid: str
    agora_dossier_id: str | None = None
    market_reference: str | None = None


@dataclass
class Correction:
    name: str
    value: str


@dataclass
class ReengineerDossier(Request):
    operation: ClassVar[str] = "ReingenierieDossier"
    request_id: str
    agora_dossier_id: str
    reason: str
    corrections: list[Correction] = field(default_factory=list)
    # The action's funders, all of them, when the correction replaces them.
    funders: list[Funder] | None = None


@dataclass
class AgoraAck:
    """AGORA's answer to a write: its dossier id, its status after the call,
    its acknowledgement number, and whether the request was a replay of one
    already applied (then nothing was applied twice)."""

    agora_dossier_id: str
    status: str
    ack_id: str
    replay: bool = False
    message: str = ""


@dataclass
class RecordDifBalance(Request):
    operation: ClassVar[str] = "EnregistrerSoldeDif"
    request_id: str
    nir: str
    dif_hours: int
