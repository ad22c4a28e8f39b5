"""The closed lists of the dossier data AGORA needs (SPEC §2, items 3 and 4), as data: code →
French label. The codes are ours until AGORA's dictionary is handed over at onboarding; the
XSD's enumerations (agora/wsdl/agora.xsd) must list the same codes (tests check it).
"""

from __future__ import annotations

import unicodedata

# The person's situation at entry: socio-professional category, INSEE PCS 2020 groups.
SOCIO_PROFESSIONAL_CATEGORIES: dict[str, str] = {
    "1": "Agriculteurs exploitants",
    "2": "Artisans, commerçants et chefs d'entreprise",
    "3": "Cadres et professions intellectuelles supérieures",
    "4": "Professions intermédiaires",
    "5": "Employés",
    "6": "Ouvriers",
    "8": "Sans activité professionnelle",
}

# The person's last employment contract before the training.
LAST_CONTRACT_TYPES: dict[str, str] = {
    "CDI": "Contrat à durée indéterminée",
    "CDD": "Contrat à durée déterminée",
    "INTERIM": "Intérim",
    "APPRENTISSAGE": "Contrat d'apprentissage",
    "PROFESSIONNALISATION": "Contrat de professionnalisation",
    "CONTRAT_AIDE": "Contrat aidé",
    "AUCUN": "Aucun contrat",
}

# Registered with France Travail (the public employment service) at entry.
YES_NO: dict[str, str] = {"oui": "Oui", "non": "Non"}

# Why the trainee left the training (a final exit or an interruption).
EXIT_REASONS: dict[str, str] = {
    "FIN_FORMATION": "Fin de formation",
    "EMPLOI": "Reprise d'un emploi",
    "AUTRE_FORMATION": "Entrée dans une autre formation",
    "ABANDON": "Abandon",
    "SANTE": "Raison de santé",
    "EXCLUSION": "Exclusion par l'organisme",
    "DEMENAGEMENT": "Déménagement",
    "AUTRE": "Autre motif",
}

# How the entry is declared (operation 7, "entrée en formation ou premier paiement"): the
# trainee's entry, or — for a funder that knows the start through its first payment (an
# individual aid) — that first payment, which AGORA records as the entry.
ENTRY_KINDS: dict[str, str] = {
    "ENTREE": "Entrée en formation",
    "PREMIER_PAIEMENT": "Premier paiement (vaut entrée)",
}

# The legacy export's free-text exit reasons (SPEC §6.1 motif_sortie), by the words that
# say them, first match wins; a cell holding a code is taken as it is.
_LEGACY_EXIT_WORDS: tuple[tuple[str, str], ...] = (
    ("autre formation", "AUTRE_FORMATION"), ("reorientation", "AUTRE_FORMATION"),
    ("fin de formation", "FIN_FORMATION"), ("termine", "FIN_FORMATION"),
    ("fin de stage", "FIN_FORMATION"), ("emploi", "EMPLOI"), ("embauche", "EMPLOI"),
    ("abandon", "ABANDON"), ("demission", "ABANDON"), ("sante", "SANTE"),
    ("maladie", "SANTE"), ("exclu", "EXCLUSION"), ("renvoi", "EXCLUSION"),
    ("demenag", "DEMENAGEMENT"),
)


def legacy_exit_reason_code(text: str | None) -> str | None:
    """The exit reason code a legacy free-text reason says, or None when it says none of
    them (the text then travels alone)."""
    if not text:
        return None
    plain = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in plain if not unicodedata.combining(c)).strip()
    if plain.upper() in EXIT_REASONS:
        return plain.upper()
    lowered = plain.lower()
    return next((code for words, code in _LEGACY_EXIT_WORDS if words in lowered), None)


# Event field → its closed list (forms show them as selects).
CHOICES: dict[str, dict[str, str]] = {
    "entry_kind": ENTRY_KINDS,
    "france_travail_registered": YES_NO,
    "socio_professional_category": SOCIO_PROFESSIONAL_CATEGORIES,
    "last_contract_type": LAST_CONTRACT_TYPES,
    "reason_code": EXIT_REASONS,
}
