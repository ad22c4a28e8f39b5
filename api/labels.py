"""French words of the UI for the English names of the code."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

STATES = {
    "created": "Créé",
    "validated": "Validé",
    "entered": "En formation",
    "paid": "Rémunéré",
    "interrupted": "Interrompu",
    "exited": "Sorti",
    "settled": "Soldé",
    "cancelled": "Annulé",
}

EVENTS = {
    "create": "Création",
    "validate": "Valider",
    "enter": "Entrée en formation",
    "pay": "Déclarer une rémunération",
    "interrupt": "Interrompre",
    "resume": "Reprendre",
    "exit": "Sortie de formation",
    "settle": "Solder",
    "cancel": "Annuler le dossier",
    "reengineer": "Corriger (réingénierie)",
}

OUTCOMES = {
    "acknowledged": "Accusé de réception",
    "replay": "Déjà appliqué (rejeu)",
    "refused": "Refusé par AGORA",
}

FIELDS = {
    "validation_date": "Date de validation",
    "entry_date": "Date d'entrée",
    "job_seeker_since": "Demandeur d'emploi depuis",
    "entry_kind": "Déclarée par",
    "france_travail_registered": "Inscrit(e) à France Travail",
    "socio_professional_category": "Catégorie socio-professionnelle",
    "last_contract_type": "Dernier contrat de travail",
    "reason_code": "Motif (liste AGORA)",
    "payment_date": "Date du paiement",
    "amount": "Montant (€)",
    "interruption_date": "Date d'interruption",
    "reason": "Motif",
    "resume_date": "Date de reprise",
    "exit_date": "Date de sortie",
    "settlement_date": "Date du solde",
    "amount_paid": "Montant versé (€)",
    "correction_name": "Champ à corriger",
    "correction_value": "Nouvelle valeur",
    # creation form
    "nir": "NIR (n° de sécurité sociale)",
    "birth_name": "Nom de naissance",
    "usage_name": "Nom d'usage",
    "first_names": "Prénoms",
    "birth_date": "Date de naissance",
    "sex": "Sexe",
    "email": "Courriel",
    "phone": "Téléphone",
    "siret": "SIRET de l'organisme de formation",
    "action_id": "Identifiant de l'action",
    "title": "Intitulé de la formation",
    "duration_hours": "Durée (heures)",
    "start_date": "Date de début",
    "end_date": "Date de fin",
    "certification_code": "Code de certification (RNCP/RS)",
    "purchase_mode": "Mode d'achat",
    "price": "Prix (€)",
    "funders": "Financeurs",
    "funder_code": "Financeur",
    "funder_share": "Part (%)",
    "market_id": "Marché",
    "session_id": "Session du marché",
}

PURCHASE_MODES = {
    "MARCHE_PUBLIC": "Marché public",
    "SUBVENTION": "Subvention",
    "AIDE_INDIVIDUELLE": "Aide individuelle",
}

ROLES = {
    "dossier_manager": "Gestionnaire de dossiers",
    "market_manager": "Gestionnaire de marchés",
    "operator": "Opérateur",
    "auditor": "Auditeur",
    "administrator": "Administrateur",
    "dpo": "Délégué à la protection des données",
}


# --- markets ---------------------------------------------------------------------------

MARKET_STATES = {
    "created": "Enregistré",
    "validated": "Attribué et notifié",
    "entered": "En exécution",
    "paid": "En exécution (paiements)",
    "interrupted": "Interrompu",
    "exited": "Exécution terminée",
    "settled": "Soldé",
}

MARKET_EVENTS = {
    "validate": "Notifier l'attribution",
    "enter": "Démarrer l'exécution",
    "pay": "Enregistrer un paiement",
    "interrupt": "Suspendre ou résilier",
    "resume": "Reprendre l'exécution",
    "exit": "Terminer l'exécution",
    "settle": "Solder le marché",
    "amend": "Enregistrer un avenant",
}

MARKET_FIELDS = {
    "reference": "Référence du marché",
    "lot_number": "Numéro de lot",
    "lot_title": "Intitulé du lot",
    "siret": "SIRET de l'organisme de formation",
    "amount_excl_tax": "Montant HT (€)",
    "amount_incl_tax": "Montant TTC (€)",
    "funding_source": "Source de financement",
    "session_id": "Session",
    "places": "Places",
    "start_date": "Date de début",
    "end_date": "Date de fin",
    "notification_date": "Date de notification",
    "payment_date": "Date du paiement",
    "amount": "Montant (€)",
    "kind": "Nature",
    "interruption_date": "Date d'interruption",
    "reason": "Motif",
    "resume_date": "Date de reprise",
    "settlement_date": "Date du solde",
    "amendment_date": "Date de l'avenant",
    "session_start": "Nouvelle date de début de la session",
    "session_end": "Nouvelle date de fin de la session",
}

FUNDING_SOURCES = {
    "region": "Région (budget propre)",
    "pic": "Pacte d'investissement dans les compétences (PIC)",
    "fse": "Fonds social européen (FSE+)",
    "state": "État",
    "other": "Autre",
}

PAYMENT_KINDS = {
    "advance": "Avance",
    "instalment": "Acompte",
    "balance": "Solde",
}

INTERRUPTION_KINDS = {
    "suspension": "Suspension",
    "termination": "Résiliation",
}

MARKET_OUTCOMES = {
    "recorded": "Enregistré",
    "acknowledged": "Accusé de réception AGORA",
    "replay": "Déjà appliqué par AGORA (rejeu)",
    "refused": "Refusé par AGORA",
}


PARIS = ZoneInfo("Europe/Paris")


def paris_time(instant: datetime | str) -> str:
    """Instants are stored in UTC; Region staff read them in Paris time: ``28/11/2026 21:46``."""
    if isinstance(instant, str):
        instant = datetime.fromisoformat(instant)
    return f"{instant.astimezone(PARIS):%d/%m/%Y %H:%M}"


SEVERITIES = {
    "critical_major": "Critique ou majeure",
    "minor": "Mineure",
}

INCIDENT_STATES = {
    "detected": "Détecté",
    "notified": "Notifié à la CDC",
    "acknowledged": "Pris en compte par la CDC",
    "worked_around": "Contourné",
    "resolved": "Résolu",
}

INCIDENT_ACTIONS = {
    "acknowledge": "Enregistrer la prise en compte par la CDC",
    "work_around": "Enregistrer un contournement",
    "resolve": "Enregistrer la résolution",
}

INCIDENT_STEPS = {
    "acknowledge": "Prise en compte par la CDC",
    "work_around": "Contournement",
    "resolve": "Résolution",
}

IMPACTS = {
    "all_users": "Indisponibilité totale, tous les utilisateurs",
    "fifty_users_or_more": "Au moins 50 utilisateurs",
    "non_essential_functions": "Indisponibilité partielle de fonctions non essentielles",
    "few_users": "Moins de 50 utilisateurs",
    "one_user": "Un utilisateur",
}

URGENCIES = {"high": "Haute", "medium": "Moyenne", "low": "Basse"}

CRISIS_DOMAINS = {"studies": "Études", "production": "Production"}

INCIDENT_ORIGINS = {"region": "Détectée par la Région", "cdc": "Signalée par la CDC",
                    "region_system": "Système de la Région (information de la CDC)"}

REGION_EVENT_KINDS = {"outage": "Panne du système de la Région",
                      "planned_intervention": "Intervention programmée"}

REPORT_CHANNELS = {"mail": "par courriel", "phone": "par téléphone"}

INCIDENT_FACTS = {
    "detected": "Détection",
    "reclassified": "Requalification",
    "phone_call": "Notification par téléphone",
    "phone_confirmed": "Confirmation écrite de l'appel",
    "attachment": "Pièce jointe",
    "notification_late": "Notification à la CDC non délivrée",
    "alert_sent": "Alerte par les autres canaux",
    "handler_without_address": "Intervenant non alerté par courriel",
    "email": "Courriel",
    "acknowledge": "Prise en compte par la CDC",
    "work_around": "Contournement",
    "resolve": "Résolution",
}

INCIDENT_KINDS = {
    "manual": "Signalé par un utilisateur",
    "agora_unavailable": "AGORA indisponible (détection automatique)",
}

LINK_STATUSES = {
    "connected": "Connectée",
    "cut_off": "Coupée",
}

LINK_WAIT_REASONS = {
    "maintenance": "Fenêtre de maintenance AGORA",
    "cut_off": "Liaison AGORA coupée",
}

EMAIL_TEMPLATES = {
    "cdc_notification": "Notification à la CDC",
    "reminder": "Rappel avant échéance",
    "escalation": "Escalade (sans prise en compte)",
    "deadline_passed": "Escalade (échéance dépassée)",
    "cdc_commitment_missed": "Escalade à la CDC (engagement non tenu)",
    "phone_confirmation": "Confirmation écrite d'un appel",
    "late_notification": "Alerte : notification à la CDC non délivrée",
    "major_disaster": "Sinistre majeur (escalade des deux parties)",
    "region_notice": "Information de la CDC (système de la Région)",
    "crisis_meeting_reminder": "Relance de la cellule de crise",
    "crisis_meeting_escalation": "Escalade (cellule de crise non réunie)",
    "cutoff_warning": "Avertissement de coupure",
    "crisis_convocation": "Convocation de la cellule de crise",
    "dossier_reminder": "Rappel au gestionnaire",
    "dossier_escalation": "Escalade au chef de service",
}
