"""AGORA's business rules, as the simulator enforces them.

Each operation gets its request fields (French names, already XSD-valid) and
the store, and returns its answer (French names, in XSD order) or raises
:class:`SoapFault`. Writes are idempotent in two ways, as AGORA's replay
detection: a request id already applied returns the original acknowledgement
with ``rejeu=true``; a transition the dossier already made by the same
operation is acknowledged as a replay too, without a second effect.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from agora import messages
from agora import operations as ops
from agora.simulator.faults import SoapFault
from agora.simulator.store import Store
from state_models.funders import FUNDERS, OBSOLETE, WHOLE

# Child order of the XSD complex types (answers must follow it).
TITULAIRE_ORDER = (
    "nir",
    "nomNaissance",
    "nomUsage",
    "prenoms",
    "dateNaissance",
    "sexe",
    "courriel",
    "telephone",
)
ACTION_ORDER = (
    "siretOrganisme",
    "idAction",
    "intitule",
    "codeCertification",
    "dureeHeures",
    "dateDebut",
    "dateFin",
    "modeAchat",
    "prix",
    "financeurs",
)
DOSSIER_DATES = (
    "dateValidation",
    "dateEntree",
    "dateSortie",
    "natureSortie",
    "dateSolde",
    "montantVerse",
)
CANCEL_CORRECTION = ("statut", ops.STATUS_CANCELLED)


@dataclass
class Outcome:
    answer: dict[str, Any]
    outcome: str  # applied | replay | answered
    dossier_id: str | None = None


# ---------------------------------------------------------------- identifiers
def nir_key_ok(nir: str) -> bool:
    """NIR key = 97 - (number mod 97); Corsica's 2A/2B count as 19/18 (SPEC §2)."""
    body, key = nir[:13].upper(), nir[13:]
    body = body.replace("2A", "19", 1) if body[5:7] == "2A" else body
    body = body.replace("2B", "18", 1) if body[5:7] == "2B" else body
    return body.isdigit() and key.isdigit() and 97 - int(body) % 97 == int(key)


def siret_ok(siret: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(siret)):
        digit = int(char) * (2 if index % 2 else 1)
        total += digit - 9 if digit > 9 else digit
    return total % 10 == 0


def _same_name(a: str, b: str) -> bool:
    def normal(name: str) -> str:
        plain = unicodedata.normalize("NFKD", name)
        plain = "".join(c for c in plain if not unicodedata.combining(c))
        return re.sub(r"[\s'-]+", " ", plain).strip().upper()

    return normal(a) == normal(b)


# ------------------------------------------------------------------- helpers
def _ack(
    dossier_id: str | None,
    status: str,
    message: str,
    replay: bool = False,
    ack_id: str | None = None,
) -> dict[str, Any]:
    return {
        "idDossierAgora": dossier_id,
        "statut": status,
        "idAccuse": ack_id or f"ACC-{uuid.uuid4().hex[:16].upper()}",
        "rejeu": replay,
        "message": message,
    }


def _as_replay(ack: dict[str, Any], status: str | None = None) -> dict[str, Any]:
    replay = dict(
        ack, rejeu=True, message="Requête déjà traitée : rien n'a été appliqué une seconde fois."
    )
    if status is not None:
        replay["statut"] = status
    return replay


def _dossier_or_fault(store: Store, dossier_id: str) -> dict[str, Any]:
    dossier = store.dossier(dossier_id)
    if dossier is None:
        raise SoapFault(ops.FAULT_UNKNOWN_DOSSIER, f"Dossier {dossier_id} inconnu d'AGORA.")
    return dossier


def _state_fault(operation: str, status: str) -> SoapFault:
    return SoapFault(
        ops.FAULT_STATE, f"{operation} impossible : le dossier est au statut {status}."
    )


def _check_nir(nir: str, check_identifiers: bool) -> None:
    if check_identifiers and not nir_key_ok(nir):
        raise SoapFault(ops.FAULT_INVALID_DATA, "NIR invalide : la clé ne correspond pas.")


def _check_person(store: Store, nir: str, birth_name: str) -> None:
    known = store.person_name(nir)
    if known is not None and not _same_name(known, birth_name):
        raise SoapFault(ops.FAULT_NIR_NAME, "Le NIR est déjà connu sous un autre nom de naissance.")


def _transition(
    store: Store,
    operation: str,
    request_id: str,
    dossier_id: str,
    allowed_from: frozenset[str],
    target: str,
    updates: dict[str, Any],
) -> Outcome:
    dossier = _dossier_or_fault(store, dossier_id)
    status = dossier["status"]
    if status == target and dossier["status_operation"] == operation:
        original = store.last_ack(operation, dossier_id) or _ack(dossier_id, status, "")
        return Outcome(_as_replay(original, status), "replay", dossier_id)
    if status not in allowed_from:
        raise _state_fault(operation, status)
    data = dict(dossier["data"], **updates)
    store.update_dossier(dossier_id, target, operation, data)
    ack = _ack(dossier_id, target, f"{operation} enregistré : dossier au statut {target}.")
    store.record_effect(request_id, operation, dossier_id, ack)
    return Outcome(ack, "applied", dossier_id)


def _dossier_view(dossier: dict[str, Any]) -> dict[str, Any]:
    data = dossier["data"]
    view = {
        "idDossierAgora": dossier["id"],
        "idDossierRegion": data["idDossierRegion"],
        "statut": dossier["status"],
        "titulaire": {k: data["titulaire"].get(k) for k in TITULAIRE_ORDER},
        "actionFormation": {k: data["actionFormation"].get(k) for k in ACTION_ORDER},
    }
    view.update({k: data.get(k) for k in DOSSIER_DATES})
    return view


def _check_funders(operation: str, funders: list[dict[str, Any]]) -> None:
    """AGORA's rules on the action's funders (codes already XSD-valid): at least one, not the
    obsolete code, no code twice, shares summing to exactly 100 %."""
    if not funders:
        raise SoapFault(ops.FAULT_INVALID_FUNDERS,
                        f"{operation} : l'action de formation doit avoir au moins un financeur.")
    codes = [f["codeFinanceur"] for f in funders]
    if OBSOLETE in codes:
        raise SoapFault(ops.FAULT_INVALID_FUNDERS, f"{operation} : le code financeur {OBSOLETE} "
                        f"({FUNDERS[OBSOLETE]}) n'est pas accepté pour un nouveau dossier.")
    twice = sorted({code for code in codes if codes.count(code) > 1})
    if twice:
        raise SoapFault(ops.FAULT_INVALID_FUNDERS,
                        f"{operation} : financeur présent deux fois ({', '.join(twice)}).")
    total = sum((Decimal(f["part"]) for f in funders), Decimal(0))
    if total != WHOLE:
        raise SoapFault(ops.FAULT_INVALID_FUNDERS, f"{operation} : la somme des parts des "
                        f"financeurs doit faire 100 % (elle fait {total} %).")


# -------------------------------------------------------------------- writes
Handler = Callable[[Store, dict[str, Any], bool], Outcome]


def find_or_create(store: Store, f: dict[str, Any], check_identifiers: bool) -> Outcome:
    person, action = f["titulaire"], f["actionFormation"]
    nir, siret = person["nir"], action["siretOrganisme"]
    _check_nir(nir, check_identifiers)
    if check_identifiers and not siret_ok(siret):
        raise SoapFault(ops.FAULT_INVALID_DATA, "SIRET invalide (clé de Luhn).")
    _check_funders("RechercherOuCreerDossier", action.get("financeurs", []))
    _check_person(store, nir, person["nomNaissance"])
    existing = store.find_dossier(nir, siret, action["idAction"])
    known_region_id = existing["data"].get("idDossierRegion") if existing else None
    if existing is not None and known_region_id not in (None, f["idDossierRegion"]):
        if existing["status"] in (ops.STATUS_CANCELLED, ops.STATUS_SETTLED):
            existing = None  # that dossier is closed: this is a new one
        else:
            # Like AGORA: one holder on one action is one open dossier; a second Region
            # dossier for them is the Region's duplicate, refused rather than merged.
            raise SoapFault(
                ops.FAULT_ALREADY_REGISTERED,
                f"Ce titulaire est déjà enregistré sur cette action sous le dossier Région "
                f"{known_region_id} (dossier AGORA {existing['id']}).",
            )
    if existing is not None:
        original = store.last_ack("RechercherOuCreerDossier", existing["id"]) or _ack(
            existing["id"], "", ""
        )
        answer = _as_replay(original, existing["status"])
        answer["message"] = (
            "Dossier déjà existant pour ce titulaire et cette action : aucun dossier créé."
        )
        return Outcome(answer, "replay", existing["id"])
    dossier_id = f"AG{uuid.uuid4().hex[:12].upper()}"
    data = {"idDossierRegion": f["idDossierRegion"], "titulaire": person, "actionFormation": action}
    store.add_person(nir, person["nomNaissance"])
    store.insert_dossier(
        dossier_id,
        nir,
        siret,
        action["idAction"],
        ops.STATUS_CREATED,
        "RechercherOuCreerDossier",
        data,
    )
    ack = _ack(dossier_id, ops.STATUS_CREATED, "Dossier créé.")
    store.record_effect(f["idRequete"], "RechercherOuCreerDossier", dossier_id, ack)
    return Outcome(ack, "applied", dossier_id)


def validate(store: Store, f: dict[str, Any], _: bool) -> Outcome:
    return _transition(
        store,
        "ValiderDossier",
        f["idRequete"],
        f["idDossierAgora"],
        frozenset({ops.STATUS_CREATED}),
        ops.STATUS_VALIDATED,
        {"dateValidation": f["dateValidation"]},
    )


SITUATION_AT_ENTRY = ("demandeurEmploiDepuis", "inscritFranceTravail",
                      "categorieSocioProfessionnelle", "dernierContrat")


def enter(store: Store, f: dict[str, Any], _: bool) -> Outcome:
    resume = f["natureEntree"] == messages.ENTRY_RESUME
    if f.get("inscritFranceTravail") in (True, "true", "1") and not f.get("demandeurEmploiDepuis"):
        raise SoapFault(ops.FAULT_INVALID_DATA, "EntrerEnFormation : un titulaire inscrit à France "
                        "Travail doit avoir une date d'inscription (demandeurEmploiDepuis).")
    situation = {k: f[k] for k in SITUATION_AT_ENTRY if f.get(k) is not None}
    allowed = ops.STATUS_INTERRUPTED if resume else ops.STATUS_VALIDATED
    return _transition(
        store,
        "EntrerEnFormation",
        f["idRequete"],
        f["idDossierAgora"],
        frozenset({allowed}),
        ops.STATUS_ENTERED,
        {} if resume else {"dateEntree": f["dateEntree"], "natureEntree": f["natureEntree"],
                           "situationEntree": situation},
    )


def declare_payment(store: Store, f: dict[str, Any], _: bool) -> Outcome:
    dossier = _dossier_or_fault(store, f["idDossierAgora"])
    known = store.payment_ack(dossier["id"], f["idPaiement"])
    if known is not None:
        return Outcome(_as_replay(known, dossier["status"]), "replay", dossier["id"])
    if dossier["status"] == ops.STATUS_SETTLED:
        raise SoapFault(ops.FAULT_STATE, "DeclarerRemuneration impossible : l'action est soldée, "
                        "aucune rémunération ne peut être déclarée après le solde.")
    # In training, or after the exit for the last instalment of the training period.
    if dossier["status"] not in (ops.STATUS_ENTERED, ops.STATUS_EXITED):
        raise _state_fault("DeclarerRemuneration", dossier["status"])
    holder = dossier["data"]["titulaire"]
    if f.get("nir") and f["nir"] != holder["nir"] or (
            f.get("nomNaissance") and not _same_name(f["nomNaissance"], holder["nomNaissance"])):
        raise SoapFault(ops.FAULT_NIR_NAME,
                        "Le titulaire déclaré (NIR, nom de naissance) n'est pas celui du dossier.")
    ack = _ack(dossier["id"], dossier["status"], f"Paiement {f['idPaiement']} enregistré.")
    store.add_payment(dossier["id"], f["idPaiement"], ack)
    store.record_effect(f["idRequete"], "DeclarerRemuneration", dossier["id"], ack)
    return Outcome(ack, "applied", dossier["id"])


def exit_training(store: Store, f: dict[str, Any], _: bool) -> Outcome:
    updates = {"dateSortie": f["dateSortie"], "natureSortie": f["natureSortie"],
               "codeMotif": f.get("codeMotif")}
    if f["natureSortie"] == messages.EXIT_INTERRUPTION:
        allowed, target = frozenset({ops.STATUS_ENTERED}), ops.STATUS_INTERRUPTED
    else:
        allowed, target = frozenset({ops.STATUS_ENTERED, ops.STATUS_INTERRUPTED}), ops.STATUS_EXITED
    return _transition(
        store, "SortirDeFormation", f["idRequete"], f["idDossierAgora"], allowed, target, updates
    )


def settle(store: Store, f: dict[str, Any], _: bool) -> Outcome:
    market = f.get("referenceMarche")
    if market:
        known = store.market_ack(market)
        if known is not None:
            return Outcome(_as_replay(known), "replay")
        ack = _ack(None, ops.STATUS_SETTLED, f"Solde du marché {market} enregistré.")
        store.add_market_settlement(market, ack)
        store.record_effect(f["idRequete"], "SolderAction", None, ack)
        return Outcome(ack, "applied")
    if not f.get("idDossierAgora"):
        raise SoapFault(
            ops.FAULT_INVALID_DATA, "SolderAction : idDossierAgora ou referenceMarche est requis."
        )
    return _transition(
        store,
        "SolderAction",
        f["idRequete"],
        f["idDossierAgora"],
        frozenset({ops.STATUS_EXITED}),
        ops.STATUS_SETTLED,
        {"dateSolde": f["dateSolde"], "montantVerse": f["montantVerse"]},
    )


def reengineer(store: Store, f: dict[str, Any], _: bool) -> Outcome:
    dossier = _dossier_or_fault(store, f["idDossierAgora"])
    corrections = [(c["nom"], c.get("valeur") or "") for c in f.get("corrections", [])]
    cancel = CANCEL_CORRECTION in corrections
    if cancel:
        return _transition(
            store,
            "ReingenierieDossier",
            f["idRequete"],
            dossier["id"],
            frozenset({ops.STATUS_CREATED, ops.STATUS_VALIDATED}),
            ops.STATUS_CANCELLED,
            {},
        )
    if dossier["status"] == ops.STATUS_CANCELLED:
        raise _state_fault("ReingenierieDossier", dossier["status"])
    data = dossier["data"]
    for name, value in corrections:
        # A correction names an AGORA element: the person's, the action's or the dossier's.
        if name in TITULAIRE_ORDER:
            data["titulaire"][name] = value
        elif name in ACTION_ORDER:
            data["actionFormation"][name] = value
        elif name in DOSSIER_DATES or name == "idDossierRegion":
            data[name] = value
        else:
            raise SoapFault(ops.FAULT_INVALID_DATA, f"Correction inconnue : {name}.")
    funders = f.get("financeurs")
    if funders is not None:
        _check_funders("ReingenierieDossier", funders)
        data["actionFormation"]["financeurs"] = funders
    store.update_dossier(dossier["id"], dossier["status"], dossier["status_operation"], data)
    ack = _ack(
        dossier["id"], dossier["status"], f"{len(corrections)} correction(s) enregistrée(s)"
        + (", financeurs remplacés." if funders is not None else ".")
    )
    store.record_effect(f["idRequete"], "ReingenierieDossier", dossier["id"], ack)
    return Outcome(ack, "applied", dossier["id"])


def record_dif(store: Store, f: dict[str, Any], check_identifiers: bool) -> Outcome:
    _check_nir(f["nir"], check_identifiers)
    store.set_dif_hours(f["nir"], int(f["heuresDif"]))
    ack = _ack(None, "ENREGISTRE", "Solde DIF enregistré.")
    store.record_effect(f["idRequete"], "EnregistrerSoldeDif", None, ack)
    return Outcome(ack, "applied")


WRITES: dict[str, Handler] = {
    "RechercherOuCreerDossier": find_or_create,
    "ValiderDossier": validate,
    "EntrerEnFormation": enter,
    "DeclarerRemuneration": declare_payment,
    "SortirDeFormation": exit_training,
    "SolderAction": settle,
    "ReingenierieDossier": reengineer,
    "EnregistrerSoldeDif": record_dif,
}


# --------------------------------------------------------------------- reads
def _cpf_hours(nir: str) -> int:
    # Stable made-up rights: the same NIR always reads the same.
    return int(hashlib.sha256(nir.encode()).hexdigest(), 16) % 400


def check_nir_name(store: Store, f: dict[str, Any], check_identifiers: bool) -> Outcome:
    _check_nir(f["nir"], check_identifiers)
    _check_person(store, f["nir"], f["nomNaissance"])
    return Outcome({"statut": "OK", "message": "Couple NIR/nom cohérent."}, "answered")


def rights(store: Store, f: dict[str, Any], check_identifiers: bool) -> Outcome:
    nir = f["nir"]
    _check_nir(nir, check_identifiers)
    return Outcome(
        {"nir": nir, "heuresCpf": _cpf_hours(nir), "heuresDif": store.dif_hours(nir)}, "answered"
    )


def balances(store: Store, f: dict[str, Any], check_identifiers: bool) -> Outcome:
    nir = f["nir"]
    _check_nir(nir, check_identifiers)
    amount = Decimal(_cpf_hours(nir)) * 15
    return Outcome(
        {"nir": nir, "montantCpf": f"{amount:.2f}", "heuresDif": store.dif_hours(nir)}, "answered"
    )


def dossiers_of(store: Store, f: dict[str, Any], check_identifiers: bool) -> Outcome:
    _check_nir(f["nir"], check_identifiers)
    views = [_dossier_view(d) for d in store.dossiers_of(f["nir"])]
    return Outcome({"nir": f["nir"], "dossiers": views}, "answered")


def find_dossier(store: Store, f: dict[str, Any], _: bool) -> Outcome:
    dossier = _dossier_or_fault(store, f["idDossierAgora"])
    return Outcome({"dossier": _dossier_view(dossier)}, "answered", dossier["id"])


def eligibility(store: Store, f: dict[str, Any], check_identifiers: bool) -> Outcome:
    """Eligible when the action leads to a registered certification (RNCP or RS) and the
    holder is not already in training on another action (one funded training at a time)."""
    _check_nir(f["nir"], check_identifiers)
    code = f.get("codeCertification") or ""
    if not re.fullmatch(r"(RNCP|RS)\d+", code):
        reason = (f"La certification {code} n'est pas inscrite au RNCP ni au répertoire "
                  "spécifique : action non éligible." if code else
                  "Aucune certification RNCP ou RS : action non éligible.")
        return Outcome({"eligible": False, "motif": reason}, "answered")
    action_id = f.get("idAction")
    for other in store.dossiers_of(f["nir"]):
        other_action = other["data"]["actionFormation"]["idAction"]
        if other["status"] == ops.STATUS_ENTERED and other_action != action_id:
            return Outcome({"eligible": False, "motif": (
                f"Le titulaire est déjà en formation sur l'action {other_action} "
                f"(dossier AGORA {other['id']}).")}, "answered")
    return Outcome({"eligible": True, "motif": f"Certification {code} éligible pour ce titulaire."},
                   "answered")


READS: dict[str, Handler] = {
    "ConsulterDroitsFormation": rights,
    "ConsulterDossiersTitulaire": dossiers_of,
    "RechercherDossier": find_dossier,
    "ControlerUniciteNirNom": check_nir_name,
    "ConsulterSoldesCompte": balances,
    "VerifierEligibilite": eligibility,
}


def handle(
    store: Store, operation: str, fields: dict[str, Any], check_identifiers: bool
) -> Outcome:
    """Apply one XSD-valid request; call inside ``store.transaction()``."""
    if operation in READS:
        return READS[operation](store, fields, check_identifiers)
    prior = store.effect(fields["idRequete"])
    if prior is not None:
        if prior["operation"] != operation:
            raise SoapFault(
                ops.FAULT_INVALID_DATA, "idRequete déjà utilisé pour une autre opération."
            )
        return Outcome(_as_replay(prior["ack"]), "replay", prior["ack"].get("idDossierAgora"))
    return WRITES[operation](store, fields, check_identifiers)
