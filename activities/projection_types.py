"""Input of the RecordDossier activity. No SQLAlchemy here: workflows import this module."""

from __future__ import annotations

from dataclasses import dataclass

from workflows.dossier_types import DossierInput, DossierView

RECORD_DOSSIER = "RecordDossier"


@dataclass
class DossierRecord:
    dossier: DossierInput
    view: DossierView
