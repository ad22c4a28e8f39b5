"""The 14 AGORA operations (Convention de service §3), named once.

AGORA's real WSDL is handed to partners only: the SOAP names, the namespace
and the PAGM right each operation needs are gathered here so they can be
swapped for the real ones in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

NAMESPACE = "urn:cdc:agora:interops:v1"
SERVICE_NAME = "AgoraService"
PORT_NAME = "AgoraPort"


@dataclass(frozen=True)
class Operation:
    number: int
    soap_name: str
    label_fr: str
    pagm_right: str
    writes: bool


OPERATIONS: tuple[Operation, ...] = (
    Operation(1, "ConsulterDroitsFormation", "Consulter les droits à formation d'un titulaire (CPF, DIF)", "AGORA_LECTURE", False),
    Operation(2, "ConsulterDossiersTitulaire", "Consulter les dossiers de formation d'un titulaire", "AGORA_LECTURE", False),
    Operation(3, "RechercherDossier", "Rechercher un dossier de formation par identifiant", "AGORA_LECTURE", False),
    Operation(4, "ControlerUniciteNirNom", "Contrôle d'unicité du couple NIR/Nom", "AGORA_LECTURE", False),
    Operation(5, "RechercherOuCreerDossier", "Recherche de la préexistence d'un dossier et création", "AGORA_FINANCEUR", True),
    Operation(6, "ValiderDossier", "Validation du dossier de l'action de formation", "AGORA_FINANCEUR", True),
    Operation(7, "EntrerEnFormation", "Entrée en formation (ou premier paiement)", "AGORA_FINANCEUR", True),
    Operation(8, "DeclarerRemuneration", "Rémunération / indemnisation versée", "AGORA_FINANCEUR", True),
    Operation(9, "SortirDeFormation", "Sortie de formation", "AGORA_FINANCEUR", True),
    Operation(10, "SolderAction", "Solde de l'action de formation (ou du marché public)", "AGORA_FINANCEUR", True),
    Operation(11, "ReingenierieDossier", "Réingénierie du dossier de formation", "AGORA_FINANCEUR", True),
    Operation(12, "ConsulterSoldesCompte", "Consulter les soldes du compte de droits", "AGORA_LECTURE", False),
    Operation(13, "VerifierEligibilite", "Vérifier l'éligibilité d'une formation pour un titulaire", "AGORA_LECTURE", False),
    Operation(14, "EnregistrerSoldeDif", "Enregistrer le solde DIF d'un titulaire", "AGORA_FINANCEUR", True),
)

BY_SOAP_NAME: dict[str, Operation] = {op.soap_name: op for op in OPERATIONS}
BY_NUMBER: dict[int, Operation] = {op.number: op for op in OPERATIONS}

# AGORA's dossier statuses, in its own vocabulary.
STATUS_CREATED = "CREE"
STATUS_VALIDATED = "VALIDE"
STATUS_ENTERED = "EN_FORMATION"
STATUS_INTERRUPTED = "INTERROMPU"
STATUS_EXITED = "SORTI"
STATUS_SETTLED = "SOLDE"
STATUS_CANCELLED = "ANNULE"

# SOAP fault codes the provider answers (SPEC §3 for the VI, ours for business rules).
FAULT_INVALID_TOKEN = "wsse:InvalidSecurityToken"
FAULT_FAILED_CHECK = "wsse:FailedCheck"
FAULT_INVALID_VI = "vi:InvalidVI"
FAULT_INVALID_SERVICE = "vi:InvalidService"
FAULT_INVALID_ISSUER = "vi:InvalidIssuer"
FAULT_INVALID_AUTH_LEVEL = "vi:InvalidAuthLevel"
FAULT_INVALID_PAGM = "vi:InvalidPagm"
SECURITY_FAULTS = frozenset(
    {
        FAULT_INVALID_TOKEN,
        FAULT_FAILED_CHECK,
        FAULT_INVALID_VI,
        FAULT_INVALID_SERVICE,
        FAULT_INVALID_ISSUER,
        FAULT_INVALID_AUTH_LEVEL,
        FAULT_INVALID_PAGM,
    }
)
FAULT_STATE = "agora:EtatDossierIncompatible"  # transition not allowed in AGORA's current status
FAULT_NIR_NAME = "agora:IncoherenceNirNom"  # NIR and surname do not match one person
FAULT_UNKNOWN_DOSSIER = "agora:DossierInconnu"
# RechercherOuCreerDossier for a holder and action already registered under another Region
# dossier id: the same request with the same Region id is a replay, another id is refused.
FAULT_ALREADY_REGISTERED = "agora:DossierDejaEnregistre"
FAULT_INVALID_DATA = "agora:DonneesInvalides"  # schema or business-data validation failed
# The action's funders missing, naming the obsolete code or a code twice, or shares not
# summing to 100 % (an unknown code is refused by the schema, as FAULT_INVALID_DATA).
FAULT_INVALID_FUNDERS = "agora:FinanceursInvalides"
FAULT_SERVER = "agora:ErreurInterne"

# Namespaces the fault-code prefixes stand for (AGORA gives the real ones at onboarding).
WSSE_NAMESPACE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
VI_NAMESPACE = "urn:cdc:agora:interops:vi"
FAULT_NAMESPACES: dict[str, str] = {"wsse": WSSE_NAMESPACE, "vi": VI_NAMESPACE, "agora": NAMESPACE}
