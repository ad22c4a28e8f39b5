"""``agora-flow backfill sample``: a realistic, messy "passeport emploi" export for demos,
tests and the benchmark, the same for the same seed.

Most rows are valid (French names with accents from Faker's fr_FR locale, Corsican 2A/2B,
mainland and foreign-born NIRs with their right key); the others carry the faults the
legacy tool's exports are known for: missing NIRs, wrong keys, 13-character NIRs, day and
month swapped, wrong SIRET keys, missing values, exits before entry, entries before 2019,
rows exported twice. Columns come shuffled, in mixed case, with columns the backfill does
not read. Rows are written as they are made: a million rows cost no more memory than ten.
"""

from __future__ import annotations

import csv
import random
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path

from faker import Faker

from state_models.backfill import COLUMNS
from state_models.validators import luhn_valid, nir_key

# Each kind of row and its share of the file; the first rows give one of each kind (the
# duplicate last: it copies an earlier row), so even a small sample shows every class.
KINDS: dict[str, float] = {
    "valid": 0.62, "nir_missing": 0.09, "pre_2019": 0.08, "bad_nir_key": 0.04,
    "nir_without_key": 0.01, "swapped_date": 0.03, "bad_siret": 0.02, "missing_value": 0.02,
    "bad_sex": 0.01, "exit_before_entry": 0.02, "duplicate": 0.06,
}
EXTRA_COLUMNS = ("agent_saisie", "commentaire")
# INSEE birth places: Corsica (2A, 2B), the mainland, and abroad (99 + country code).
BIRTH_PLACES = ("2A004", "2A247", "2A272", "2B033", "2B096", "2B050", "13201", "06088",
                "75115", "69381", "33063", "31555", "83137", "99134", "99350", "99139")
CORSICAN_NAMES = ("Santoni", "Casanova", "Orsini", "Peretti", "Giudicelli", "Leca", "Rocca",
                  "Bartoli", "Filippi", "Mattei", "Luciani", "Acquaviva", "Ottavi", "Sépulcre")
TITLES = ("Titre professionnel Agent de restauration", "CAP Accompagnant éducatif petite enfance",
          "Titre professionnel Secrétaire assistant", "BTS Tourisme",
          "Préparation opérationnelle à l'emploi — métiers de la mer", "Titre professionnel Maçon",
          "Français langue étrangère", "Titre professionnel Conducteur de transport en commun",
          "Aide-soignant (DEAS)")
EXIT_REASONS = {"TERMINE": "fin de formation", "ABANDON": "abandon (reprise d'emploi)",
                "ANNULE": "annulation avant l'entrée"}
# The export was taken on this day: sessions ending later are still running.
CUT_OVER = date(2026, 11, 30)


@dataclass(frozen=True)
class Organisation:
    siret: str
    actions: tuple[str, ...]


def _luhn_complete(rng: random.Random, prefix: str) -> str:
    base = prefix + "".join(rng.choice("0123456789") for _ in range(13 - len(prefix)))
    return next(base + digit for digit in "0123456789" if luhn_valid(base + digit))


class _Rows:
    """One row after another, each a dict column → text."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.fake = Faker("fr_FR")
        self.fake.seed_instance(seed)
        self.organisations = [
            Organisation(_luhn_complete(self.rng, str(self.rng.randint(3, 8))),
                         tuple(f"AF-{self.rng.randint(2016, 2026)}-{self.rng.randint(1, 999):03d}"
                               for _ in range(4)))
            for _ in range(25)]
        self.recent: deque[dict[str, str]] = deque(maxlen=500)
        self.serial = 0

    def kinds(self, count: int) -> Iterator[str]:
        forced = [kind for kind in KINDS if kind != "duplicate"] + ["duplicate"]
        names, weights = list(KINDS), list(KINDS.values())
        for index in range(count):
            yield forced[index] if index < len(forced) else self.rng.choices(names, weights)[0]

    def date_text(self, day: date) -> str:
        return day.isoformat() if self.rng.random() < 0.15 else f"{day:%d/%m/%Y}"

    def row(self, kind: str) -> dict[str, str]:
        if kind == "duplicate" and self.recent:
            return dict(self.rng.choice(self.recent))  # the same dossier exported twice
        rng, fake = self.rng, self.fake
        self.serial += 1
        sex = rng.choice("12")
        first = fake.first_name_male() if sex == "1" else fake.first_name_female()
        if rng.random() < 0.3:
            first += " " + (fake.first_name_male() if sex == "1" else fake.first_name_female())
        birth_name = rng.choice(CORSICAN_NAMES) if rng.random() < 0.35 else fake.last_name()
        birth = date(1960, 1, 1) + timedelta(days=rng.randint(0, 44 * 365))
        place = rng.choice(BIRTH_PLACES)
        nir_base = f"{sex}{birth:%y%m}{place}{rng.randint(1, 999):03d}"
        key = nir_key(nir_base)
        organisation = rng.choice(self.organisations)
        year = rng.randint(2015, 2018) if kind == "pre_2019" else rng.randint(2019, 2026)
        start = date(year, 1, 1) + timedelta(days=rng.randint(0, 330))
        entry = start + timedelta(days=rng.randint(0, 10))
        if kind == "swapped_date":  # written MM/JJ/AAAA: a day past the 12th makes no month
            entry = entry.replace(day=rng.randint(13, 28))
        end = start + timedelta(days=rng.randint(30, 300))
        status = "EN_COURS" if end > CUT_OVER else rng.choices(
            ("TERMINE", "ABANDON", "ANNULE"), (0.8, 0.17, 0.03))[0]
        exit_day = (None if status == "EN_COURS" else end if status == "TERMINE"
                    else entry + timedelta(days=rng.randint(0, (end - entry).days)))
        if kind == "exit_before_entry":
            exit_day = entry - timedelta(days=rng.randint(1, 40))
        paid = rng.choice(("", "0", f"{rng.randint(200, 9000)},{rng.randint(0, 99):02d}",
                           f"{rng.randint(200, 9000)}.{rng.randint(0, 99):02d}"))
        row = {
            "num_dossier": f"PE-{year}-{self.serial:07d}",
            "nir": self._spaced(f"{nir_base}{key:02d}", (1, 3, 5, 7, 10, 13)),
            "nom_naissance": birth_name.upper() if rng.random() < 0.5 else birth_name,
            "prenoms": first,
            "date_naissance": self.date_text(birth),
            "sexe": rng.choice(("H", "M")) if sex == "1" and rng.random() < 0.2 else
                    "F" if sex == "2" and rng.random() < 0.2 else sex,
            "code_lieu_naissance": place,
            "siret_organisme": self._spaced(organisation.siret, (3, 6, 9)),
            "code_action": rng.choice(organisation.actions),
            "intitule_action": rng.choice(TITLES),
            "code_certification": f"RNCP{rng.randint(30000, 39999)}" if rng.random() < 0.7 else "",
            "duree_heures": str(rng.randint(35, 1200)),
            "date_debut_session": self.date_text(start),
            "date_fin_session": self.date_text(end),
            "date_entree": (f"{entry:%m/%d/%Y}" if kind == "swapped_date"
                            else self.date_text(entry)),
            "date_sortie": self.date_text(exit_day) if exit_day else "",
            "motif_sortie": EXIT_REASONS.get(status, "") if exit_day else "",
            "montant_remunere": paid,
            "statut": status,
            "agent_saisie": fake.user_name(),
            "commentaire": rng.choice(("", "", "", "dossier papier scanné", "relancé par courriel",
                                       '=HYPERLINK("http://exemple.invalid";"voir")')),
        }
        self._spoil(kind, row, nir_base, key)
        self.recent.append(row)
        return row

    def _spaced(self, text: str, cuts: tuple[int, ...]) -> str:
        """As typed by hand a third of the time: in groups separated by spaces."""
        if self.rng.random() >= 0.3:
            return text
        bounds = (0, *cuts, len(text))
        return " ".join(text[a:b] for a, b in pairwise(bounds))

    def _spoil(self, kind: str, row: dict[str, str], nir_base: str, key: int) -> None:
        rng = self.rng
        if kind == "nir_missing":
            row["nir"] = ""
        elif kind == "bad_nir_key":
            row["nir"] = f"{nir_base}{key % 97 + 1:02d}"
        elif kind == "nir_without_key":
            row["nir"] = nir_base
        elif kind == "bad_siret":
            siret = "".join(row["siret_organisme"].split())
            row["siret_organisme"] = siret[:-1] + str((int(siret[-1]) + rng.randint(1, 9)) % 10)
        elif kind == "missing_value":
            row[rng.choice(("prenoms", "date_naissance", "code_action", "sexe"))] = ""
        elif kind == "bad_sex":
            row["sexe"] = rng.choice(("X", "3", "Homme"))


def header(rng: random.Random) -> list[str]:
    """The columns in the order and the spelling of this export."""
    names = list(COLUMNS) + list(EXTRA_COLUMNS)
    rng.shuffle(names)
    return names


def write_sample(path: Path, rows: int, seed: int = 0, encoding: str = "cp1252",
                 xlsx: bool = False) -> None:
    """Write ``rows`` data rows (after the header) to ``path``."""
    maker = _Rows(seed)
    columns = header(maker.rng)
    spelled = [name.upper() if maker.rng.random() < 0.3 else f" {name} " if
               maker.rng.random() < 0.2 else name for name in columns]
    lines = ([row[name] for name in columns] for row in map(maker.row, maker.kinds(rows)))
    if xlsx:
        _write_xlsx(path, spelled, lines)
        return
    # Characters outside Windows-1252 become "?", as the legacy tool's own export does.
    with open(path, "w", encoding=encoding, errors="replace", newline="") as out:
        writer = csv.writer(out, delimiter=";")
        writer.writerow(spelled)
        writer.writerows(lines)


def _write_xlsx(path: Path, spelled: list[str], lines: Iterator[list[str]]) -> None:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Export")
    sheet.append(spelled)
    hours = spelled.index(next(name for name in spelled if name.strip().lower() == "duree_heures"))
    for cells in lines:
        # Hours typed as numbers, as in a sheet someone worked on; the rest as exported text.
        sheet.append([int(cell) if index == hours and cell.isdigit() else cell
                      for index, cell in enumerate(cells)])
    workbook.save(path)
