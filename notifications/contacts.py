"""Who the emails go to (SPEC §4): configuration, never code.

Read from the JSON or TOML file named by ``AGORA_FLOW_CONTACTS_FILE``; the
development default is ``notifications/contacts.example.json``. Stdlib only,
so the dataclasses travel in workflow inputs as a snapshot: an incident keeps
the contacts it was opened with, and its history shows who was written to.

The staff directory (``staff``: user name → e-mail, optional phone) is how the
product reaches one of its users: a dossier's manager for its reminders, an
incident's handlers for its late-notification alert. Staff e-mails are personal
data: they travel only inside sealed workflow payloads, and pages and histories
name staff by user name, never by address.
"""


import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

CONTACTS_FILE_ENV = "AGORA_FLOW_CONTACTS_FILE"
EXAMPLE_FILE = Path(__file__).with_name("contacts.example.json")


@dataclass
class Contact:
    name: str
    email: str
    user_code: str = ""
    phone: str = ""
    role: str = ""
    # Whose side they are on: "cdc" or "region" (escalation contacts: SPEC §4).
    party: str = ""


@dataclass
class StaffMember:
    """How to reach one user of the product, found by their user name."""

    email: str
    phone: str = ""


@dataclass
class CrisisCell:
    """Technical and functional leads of both parties; some may approve reconnection."""

    members: list[Contact] = field(default_factory=list)
    # User codes of the members whose express agreement re-enables the link.
    approvers: list[str] = field(default_factory=list)
    required_approvals: int = 1
    # The convention's domains ("studies", "production") → user codes of their members;
    # a domain not listed convenes every member.
    domains: dict[str, list[str]] = field(default_factory=dict)

    def members_for(self, domain: str) -> list[Contact]:
        codes = self.domains.get(domain)
        if codes is None:
            return list(self.members)
        return [m for m in self.members if m.user_code in codes]


@dataclass
class Contacts:
    partner_name: str
    region_contact: Contact
    cdc_support: Contact
    escalation: list[Contact] = field(default_factory=list)
    crisis_cell: CrisisCell = field(default_factory=CrisisCell)
    head_of_service: Contact | None = None
    # The Region's security officer (RSSI): trace exports are due to them (SPEC §5).
    security_officer: Contact | None = None
    # The data-protection officer's team: data-subject requests are due to them (SPEC §8).
    dpo: Contact | None = None
    # The Region's staff by user name: dossier managers, incident handlers.
    staff: dict[str, StaffMember] = field(default_factory=dict)
    # The training service's mailbox: a dossier's reminders when its manager is not in
    # ``staff`` (never an incident handler's: an alert must reach the person, or say not).
    dossier_mailbox: str = ""
    # The directory's key before it covered every user ({user name: e-mail}, "*" for the
    # service's mailbox): still read from older contacts files and from the inputs of
    # workflows started before, folded into ``staff`` and ``dossier_mailbox`` on creation.
    dossier_managers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for username, email in self.dossier_managers.items():
            if username == "*":
                self.dossier_mailbox = self.dossier_mailbox or email
            else:
                self.staff.setdefault(username, StaffMember(email))
        self.dossier_managers = {}

    def escalation_of(self, party: str) -> list[Contact]:
        """The escalation contacts of one party; all of them when none says its party."""
        if not any(c.party for c in self.escalation):
            return list(self.escalation)
        return [c for c in self.escalation if c.party == party]

    def staff_email(self, username: str) -> str:
        """The user's own address; empty when the directory has none for them."""
        member = self.staff.get(username)
        return member.email if member else ""

    def dossier_manager_email(self, username: str | None) -> str:
        """Where a dossier's reminders go: its manager, else the service's mailbox."""
        return self.staff_email(username or "") or self.dossier_mailbox


def _staff_member(username: str, entry: str | dict) -> StaffMember:
    # A bare address is accepted too: ``"paul.leca" = "paul.leca@…"``.
    member = StaffMember(entry) if isinstance(entry, str) else StaffMember(**entry)
    if "@" not in member.email:
        raise ValueError(f"staff.{username}: an e-mail address is required")
    return member


def parse_contacts(data: dict) -> Contacts:
    cell = data.get("crisis_cell", {})
    head = data.get("head_of_service")
    contacts = Contacts(
        partner_name=data["partner_name"],
        region_contact=Contact(**data["region_contact"]),
        cdc_support=Contact(**data["cdc_support"]),
        escalation=[Contact(**c) for c in data.get("escalation", [])],
        crisis_cell=CrisisCell(
            members=[Contact(**c) for c in cell.get("members", [])],
            approvers=list(cell.get("approvers", [])),
            required_approvals=int(cell.get("required_approvals", 1)),
            domains={str(d): list(codes) for d, codes in cell.get("domains", {}).items()},
        ),
        head_of_service=Contact(**head) if head else None,
        security_officer=Contact(**data["security_officer"]) if data.get("security_officer") else None,
        dpo=Contact(**data["dpo"]) if data.get("dpo") else None,
        staff={str(user): _staff_member(str(user), entry)
               for user, entry in data.get("staff", {}).items()},
        dossier_mailbox=str(data.get("dossier_mailbox", "")),
        dossier_managers=dict(data.get("dossier_managers", {})),
    )
    if "*" in contacts.staff:
        raise ValueError("staff: \"*\" is not a user name; the service's mailbox is dossier_mailbox")
    if contacts.crisis_cell.required_approvals > len(contacts.crisis_cell.approvers):
        raise ValueError("crisis_cell.required_approvals exceeds the number of approvers")
    known = {m.user_code for m in contacts.crisis_cell.members}
    for domain, codes in contacts.crisis_cell.domains.items():
        if unknown := set(codes) - known:
            raise ValueError(f"crisis_cell.domains.{domain}: not members: {', '.join(sorted(unknown))}")
    return contacts


def load_contacts(path: str | Path | None = None) -> Contacts:
    """The contacts of ``path``, else of $AGORA_FLOW_CONTACTS_FILE, else the example file."""
    source = Path(path or os.environ.get(CONTACTS_FILE_ENV) or EXAMPLE_FILE)
    text = source.read_text(encoding="utf-8")
    data = tomllib.loads(text) if source.suffix == ".toml" else json.loads(text)
    return parse_contacts(data)
