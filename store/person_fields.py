"""A person's NIR and identity in the store (names, birth date, sex, e-mail, phone), sealed
under that person's own data key (``crypto.person_keys``), so crypto-erasure reaches every copy
of the row — the database file and its backups — as it reaches their Temporal histories.

A write seals twice — the NIR, and one AES-256-GCM box for every identity field — each
bound to its row: the associated data names the column, the row's NIR look-up hash and the
key id, so a value copied into another row does not open there. Searches never read the clear text:
the list's name search matches keyed hashes of the name's words (``name_terms``), and a
data-subject request found by name and birth date matches a keyed hash of the pair
(``identity_hash``). Screens and exports open the identity only for users allowed to see
the dossier; an erased person reads as ``[effacé]``.
"""

from __future__ import annotations

import base64
import json
import re
import unicodedata
from dataclasses import asdict, dataclass
from typing import Any

from agora.messages import Person as PersonData
from crypto.codec import open_keys
from crypto.person_keys import PersonKeyErased, PersonKeys, open_sealed, seal
from settings import Settings
from store.crypto import DataCipher, cipher_for, open_nir
from store.models import Person

ERASED = "[effacé]"
_TERM_LABEL = "name-term"
_IDENTITY_LABEL = "identity-lookup"
# 64 bits of a keyed hash: enough to tell the words of a few million names apart.
_TERM_CHARS = 16


@dataclass(frozen=True)
class Identity:
    birth_name: str
    first_names: str
    birth_date: str
    sex: str
    usage_name: str | None = None
    email: str | None = None
    phone: str | None = None


ERASED_IDENTITY = Identity(ERASED, ERASED, "", "-")


def identity_of(data: PersonData) -> Identity:
    return Identity(birth_name=data.birth_name, first_names=data.first_names,
                    birth_date=data.birth_date, sex=data.sex, usage_name=data.usage_name,
                    email=data.email, phone=data.phone)


def name_words(text: str | None) -> list[str]:
    """The words of a name, case and accents ignored (``Éloïse-Marie`` → eloise, marie)."""
    if not text:
        return []
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return [word for word in re.split(r"[^a-z0-9]+", plain) if word]


def name_term(cipher: DataCipher, word: str) -> str:
    return cipher.keyed_hash(_TERM_LABEL, word)[:_TERM_CHARS]


def name_terms(cipher: DataCipher, identity: Identity) -> str:
    """The keyed hashes of every word of the person's names, space-delimited on both sides
    so that ``LIKE '% term %'`` matches a whole word."""
    words = {w for name in (identity.birth_name, identity.usage_name, identity.first_names)
             for w in name_words(name)}
    return " " + " ".join(sorted(name_term(cipher, w) for w in words)) + " "


def name_query_terms(cipher: DataCipher, query: str) -> list[str]:
    """The terms a name search must all find (one per word typed)."""
    return [name_term(cipher, word) for word in name_words(query)]


def identity_hash(cipher: DataCipher, birth_name: str, birth_date: str) -> str:
    """Keyed hash of a birth name (case, accents and spacing ignored) and a birth date."""
    return cipher.keyed_hash(_IDENTITY_LABEL, " ".join(name_words(birth_name)) + "|" + birth_date)


def _associated(nir_hash: str, kid: str) -> bytes:
    return f"persons.identity_sealed:{nir_hash}:{kid}".encode()


# A NIR sealed under its person's key: this byte, the key id, "|", the sealed bytes. Values
# sealed under the store's key (store.crypto: bytes 1 and 2) are older, or an erased row's
# placeholder, and still open.
_NIR_PERSON_SEALED = b"\x03"


def _nir_associated(nir_hash: str, kid: str) -> bytes:
    return f"persons.nir_encrypted:{nir_hash}:{kid}".encode()


def person_fields_for(settings: Settings) -> PersonFields:
    """This process's sealer of persons' identities (the store's key, the person keys)."""
    return PersonFields(cipher_for(settings), open_keys(settings))


class PersonFields:
    """Seals and opens persons' identities; one per process (keys cached, bounded)."""

    def __init__(self, cipher: DataCipher, keys: PersonKeys) -> None:
        self.cipher = cipher
        self._keys = keys

    def columns(self, nir: str, nir_hash: str, identity: Identity) -> dict[str, Any]:
        """The person row's NIR and identity sealed under the person's key (two encryptions),
    and its look-up hashes."""
        kid = self._keys.for_person(nir)
        key = self._keys.key(kid)
        plaintext = json.dumps(asdict(identity)).encode()
        return {
            "key_id": kid,
            "nir_encrypted": _NIR_PERSON_SEALED + kid.encode() + b"|"
            + seal(key, nir.encode(), _nir_associated(nir_hash, kid)),
            "identity_sealed": seal(key, plaintext, _associated(nir_hash, kid)),
            "name_terms": name_terms(self.cipher, identity),
            "identity_hash": identity_hash(self.cipher, identity.birth_name, identity.birth_date),
        }

    def open(self, person: Person) -> Identity:
        """The person's identity; ``ERASED_IDENTITY`` once erased (blanked, or their key
        destroyed). A value moved from another row raises cryptography's InvalidTag."""
        if person.identity_sealed is None or person.key_id is None:
            return ERASED_IDENTITY
        try:
            key = self._keys.key(person.key_id)
        except PersonKeyErased:
            return ERASED_IDENTITY
        plaintext = open_sealed(key, person.identity_sealed,
                                _associated(person.nir_hash, person.key_id))
        return Identity(**json.loads(plaintext))

    def nir(self, person: Person) -> str:
        """The person's NIR; ``[effacé]`` once their key is destroyed. Raises InvalidTag for
        a value moved from another row."""
        blob = person.nir_encrypted
        if blob[:1] != _NIR_PERSON_SEALED:
            return open_nir(self.cipher, blob, person.nir_hash)
        kid, _, box = blob[1:].partition(b"|")
        try:
            key = self._keys.key(kid.decode())
        except PersonKeyErased:
            return ERASED
        return open_sealed(key, box, _nir_associated(person.nir_hash, kid.decode())).decode()


    def seal_correction(self, person: Person, where: tuple[str, int, str], value: str) -> str:
        """A corrected value of the person (before or after), sealed under their key and
        bound to its place (dossier, timeline entry, field): text for the corrections table."""
        if person.key_id is None:
            return ERASED
        box = seal(self._keys.key(person.key_id), value.encode(),
                   _correction_associated(where, person.key_id))
        return _CORRECTION_SEALED + person.key_id + "|" + base64.b64encode(box).decode()

    def open_correction(self, correction: Any, value: str | None) -> str | None:
        """A value of the corrections table as shown: action values as stored, the person's
        own opened with their key (``[effacé]`` once it is destroyed)."""
        if value is None or not value.startswith(_CORRECTION_SEALED):
            return value
        kid, _, box = value.removeprefix(_CORRECTION_SEALED).partition("|")
        try:
            key = self._keys.key(kid)
        except PersonKeyErased:
            return ERASED
        where = (correction.dossier_id, correction.seq, correction.field)
        return open_sealed(key, base64.b64decode(box), _correction_associated(where, kid)).decode()


# A person's corrected value in the corrections table: this prefix, the key id, "|", base64.
_CORRECTION_SEALED = "sealed:"


def _correction_associated(where: tuple[str, int, str], kid: str) -> bytes:
    dossier_id, seq, field = where
    return f"dossier_corrections:{dossier_id}:{seq}:{field}:{kid}".encode()


ERASED_COLUMNS: dict[str, Any] = {"key_id": None, "identity_sealed": None, "name_terms": " ",
                                  "identity_hash": None}
