"""Emails: French templates, contacts as configuration, idempotent SMTP sending, dev sink."""

from __future__ import annotations

import concurrent.futures
import email
import email.policy
import json
import sqlite3
import subprocess
import sys
import time
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.testing import ActivityEnvironment

from activities.notify import NotifyActivities
from api.context import AppContext
from contracts.incident import IncidentInput
from contracts.notify import EmailRequest
from notifications import render, smtp
from notifications.contacts import CONTACTS_FILE_ENV, StaffMember, load_contacts, parse_contacts
from notifications.sink import start_sink
from settings import Settings
from state_models.calendar_cli import format_deadline
from state_models.public_holidays import default_calendar
from tests.fixtures_smtp import SmtpServer, free_port, start_smtp_server

CONTACTS = load_contacts()

INCIDENT = {
    "ticket": "AGORA-20261207-0001",
    "severity": "critical_major",
    "kind": "agora_unavailable",
    "state": "notified",
    "domain": "Formation professionnelle (SI-CPF)",
    "application": "AGORA",
    "service": "web services AGORA",
    "description": "HTTP 503 sur <ValiderDossier> depuis 09:12",
    "attachments": ["capture-ecran.png"],
    "detected_at": "2026-12-07T08:12:00+00:00",
    "notified_at": "2026-12-07T08:13:00+00:00",
    "deadline": "2026-12-08T08:12:00+00:00",
    "partner_name": CONTACTS.partner_name,
    "region_contact": asdict(CONTACTS.region_contact),
}
DOSSIER = {
    "partner_name": CONTACTS.partner_name,
    "dossier_id": "D-42",
    "kind": "dossier",
    "reason": "refused",
    "operation": "ValiderDossier",
    "fault_code": "agora:EtatIncompatible",
    "fault_message": "dossier non créé",
    "since": "2026-12-07T08:12:00+00:00",
    "escalation_at": "2026-12-09T08:12:00+00:00",
    "manager": "agent.dupont",
    "page_url": "http://127.0.0.1:8000/dossiers/D-42",
}
CUT_OFF = {
    "reference": "AGORA-COUPURE-1",
    "partner_name": CONTACTS.partner_name,
    "region_contact": asdict(CONTACTS.region_contact),
    "cut_at": "2026-12-04T09:00:00+00:00",
    "cut_by": "rssi.corse",
    "reason": "certificat de signature compromis",
    "meeting_deadline": "2026-12-08T18:00:00+00:00",
    "members": [asdict(m) for m in CONTACTS.crisis_cell.members],
    "approvers": CONTACTS.crisis_cell.approvers,
    "required_approvals": CONTACTS.crisis_cell.required_approvals,
}
TRACE_EXPORT = {
    "reference": "CDC-2026-17",
    "requester": "CDC",
    "requested_at": "2026-12-01T09:00:00+00:00",
    "deadline": "2026-12-16T09:00:00+00:00",
    "escalation_at": "2026-12-15T09:00:00+00:00",
    "state": "ready",
    "page_url": "http://127.0.0.1:8000/exports-traces",
    "partner_name": CONTACTS.partner_name,
}
SUBJECT_REQUEST = {
    "request_id": "a1b2c3d4e5f6",
    "kind": "droit d'accès",
    "received_at": "2026-12-01T09:00:00+00:00",
    "deadline": "2027-01-01T09:00:00+00:00",
    "days_left": 14,
    "extension_months": 0,
    "page_url": "http://127.0.0.1:8000/demandes-rgpd/a1b2c3d4e5f6",
    "partner_name": CONTACTS.partner_name,
}
PRIORITISED = {**INCIDENT, "priority": "P1", "impact": "all_users", "urgency": "high",
               "origin": "region", "cdc_report": None}
CDC_REPORTED = {**PRIORITISED, "origin": "cdc", "missed": "cdc_ack_missed", "cdc_report": {
    "reference": "CDC-INC-7781", "reported_at": "2026-12-07T08:12:00+00:00",
    "reported_by": "support CPF", "channel": "phone"}}
PHONE = {**PRIORITISED, "call": {
    "caller": "Paul Leca", "callee": "support CPF (M. Durand)",
    "called_at": "2026-12-07T08:20:00+00:00",
    "summary": "HTTP 503 sur tous les appels depuis 09:12", "who": "paul.leca"}}
CONTEXTS = {
    "cdc_notification": INCIDENT,
    "reminder": INCIDENT,
    "escalation": INCIDENT,
    "deadline_passed": INCIDENT,
    "dossier_reminder": DOSSIER,
    "dossier_escalation": DOSSIER,
    "cutoff_warning": CUT_OFF,
    "crisis_convocation": CUT_OFF,
    "trace_export_reminder": TRACE_EXPORT,
    "trace_export_escalation": TRACE_EXPORT,
    "subject_request_reminder": SUBJECT_REQUEST,
    "subject_request_escalation": SUBJECT_REQUEST,
    "cdc_commitment_missed": CDC_REPORTED,
    "phone_confirmation": PHONE,
    "major_disaster": {**CUT_OFF, "domain": "production", "major_disaster": True},
    "crisis_meeting_reminder": {**CUT_OFF, "domain": "studies", "reminder_number": 2},
    "crisis_meeting_escalation": {**CUT_OFF, "domain": "production"},
    "region_notice": {**PRIORITISED, "origin": "region_system", "region_event": {
        "kind": "planned_intervention", "starts_at": "2026-12-09T07:00:00+00:00",
        "ends_at": "2026-12-09T09:00:00+00:00"}},
    "late_notification": {**PRIORITISED, "notification_due_at": "2026-12-07T10:12:00+00:00",
                          "cdc_support": asdict(CONTACTS.cdc_support)},
    "backfill_answer_overdue": {"campaign_id": "REPRISE-20261207-AB12", "file": "LOT-0003.xml",
                                "kind": "chunk", "rows": 1000, "waited_hours": 48.0,
                                "overdue_since": "2026-12-09T09:00:00+00:00",
                                "page_url": "https://agora-flow.region.example.fr/reprise",
                                "partner_name": CONTACTS.partner_name},
}


@pytest.mark.parametrize("name", render.EMAILS)
def test_every_email_renders_in_french_with_text_and_html(name: str) -> None:
    email_ = render.render(name, CONTEXTS[name])
    assert "\n" not in email_.subject and email_.subject
    assert email_.text.startswith("Bonjour,")
    assert "<p>Bonjour,</p>" in email_.html and '<html lang="fr">' in email_.html
    if name in ("cdc_notification", "reminder", "escalation", "deadline_passed",
                "cdc_commitment_missed", "phone_confirmation", "late_notification",
                "region_notice"):
        assert email_.subject.startswith("[AGORA-20261207-0001]")
        # Data is escaped in HTML, verbatim in text.
        assert "&lt;ValiderDossier&gt;" in email_.html
        assert "<ValiderDossier>" in email_.text


def test_cdc_notification_carries_every_item_spec_4_lists() -> None:
    text = render.render("cdc_notification", INCIDENT).text
    contact = CONTACTS.region_contact
    for item in (CONTACTS.partner_name, contact.name, contact.user_code, contact.phone,
                 contact.email, "domaine Formation professionnelle (SI-CPF)", "application AGORA",
                 "service web services AGORA", "HTTP 503 sur <ValiderDossier>",
                 "capture-ecran.png", "AGORA-20261207-0001", "critique ou majeure",
                 # 08:12 UTC is 09:12 in Paris in winter.
                 "lundi 7 décembre 2026 à 09:12 (heure de Paris)"):
        assert item in text


def test_a_prioritised_incident_shows_its_priority_impact_and_urgency() -> None:
    email_ = render.render("cdc_notification", PRIORITISED)
    for part in (email_.text, email_.html):
        assert "P1 (impact : indisponibilité totale, tous les utilisateurs, urgence : haute)" in part
    assert "Priorité" not in render.render("cdc_notification", INCIDENT).text


def test_the_cdc_escalation_names_its_reference_and_the_commitment_missed() -> None:
    ack = render.render("cdc_commitment_missed", CDC_REPORTED)
    resolution = render.render("cdc_commitment_missed", {**CDC_REPORTED,
                                                          "missed": "cdc_resolution_missed"})
    assert "CDC-INC-7781" in ack.subject and "prise en compte" in ack.subject
    assert "résolution" in resolution.subject
    assert "par téléphone" in ack.text and "n'a pas été prise en compte" in ack.text
    assert "ni corrigée ni contournée" in resolution.text
    assert "mardi 8 décembre 2026 à 09:12" in resolution.html


def test_the_phone_confirmation_says_who_called_whom_when_and_what() -> None:
    email_ = render.render("phone_confirmation", PHONE)
    assert "lundi 7 décembre 2026 à 09:20" in email_.subject
    for part in (email_.text, email_.html):
        for item in ("Paul Leca", "support CPF (M. Durand)", "HTTP 503 sur tous les appels",
                     "AGORA-20261207-0001", CONTACTS.region_contact.phone):
            assert item in part


def test_a_missing_value_is_an_error_not_a_blank() -> None:
    context = {k: v for k, v in INCIDENT.items() if k != "ticket"}
    with pytest.raises(Exception, match="ticket"):
        render.render("cdc_notification", context)


def test_contacts_come_from_the_configured_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = json.loads(Path("notifications/contacts.example.json").read_text(encoding="utf-8"))
    data["partner_name"] = "Région Test"
    path = tmp_path / "contacts.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    monkeypatch.setenv(CONTACTS_FILE_ENV, str(path))
    assert load_contacts().partner_name == "Région Test"

    toml = tmp_path / "contacts.toml"
    toml.write_text(
        'partner_name = "Région TOML"\n'
        '[region_contact]\nname = "A"\nemail = "a@example.org"\n'
        '[cdc_support]\nname = "CDC"\nemail = "cdc@example.org"\n'
        '[crisis_cell]\napprovers = ["RSSI"]\nrequired_approvals = 1\n'
        '[[crisis_cell.members]]\nname = "R"\nuser_code = "RSSI"\nemail = "r@example.org"\n'
        '[staff]\n"paul.leca" = "paul.leca@example.org"\n'
        '[staff."anna.pieri"]\nemail = "anna.pieri@example.org"\nphone = "+33 6 00"\n',
        encoding="utf-8",
    )
    from_toml = load_contacts(toml)
    assert from_toml.cdc_support.email == "cdc@example.org"
    assert from_toml.staff == {"paul.leca": StaffMember("paul.leca@example.org"),
                               "anna.pieri": StaffMember("anna.pieri@example.org", "+33 6 00")}

    data["crisis_cell"]["required_approvals"] = 3
    with pytest.raises(ValueError, match="required_approvals"):
        parse_contacts(data)


def test_the_staff_directory_reaches_a_user_by_user_name() -> None:
    data = json.loads(Path("notifications/contacts.example.json").read_text(encoding="utf-8"))
    data["staff"] = {"paul.leca": {"email": "paul.leca@isula.example.org", "phone": "+33 6 00"},
                     "anna.pieri": "anna.pieri@isula.example.org"}  # a bare address will do
    contacts = parse_contacts(data)
    assert contacts.staff["paul.leca"] == StaffMember("paul.leca@isula.example.org", "+33 6 00")
    assert contacts.staff_email("anna.pieri") == "anna.pieri@isula.example.org"
    # An incident's handler without an entry has no address; a dossier's manager falls back
    # to the service's mailbox.
    assert contacts.staff_email("inconnu") == ""
    assert contacts.dossier_manager_email("inconnu") == data["dossier_mailbox"]
    assert contacts.dossier_manager_email("paul.leca") == "paul.leca@isula.example.org"

    with pytest.raises(ValueError, match="staff.marc"):
        parse_contacts({**data, "staff": {"marc": {"phone": "+33 6 01", "email": ""}}})
    with pytest.raises(ValueError, match="dossier_mailbox"):
        parse_contacts({**data, "staff": {"*": "service@isula.example.org"}})


def test_a_dossiers_reminders_go_to_its_managers_directory_entry_else_the_mailbox() -> None:
    contacts = parse_contacts({**json.loads(Path("notifications/contacts.example.json").read_text(
        encoding="utf-8")), "staff": {"camille": "camille@isula.example.org"}})
    ctx = AppContext(Settings(), db=None, cipher=None, client_factory=None,  # type: ignore[arg-type]
                     contacts=contacts)
    assert ctx.escalation_for("/dossiers/D-1", "camille").manager_email == "camille@isula.example.org"
    assert ctx.escalation_for("/dossiers/D-1", "paul").manager_email == contacts.dossier_mailbox
    assert contacts.dossier_mailbox == "service-formation@isula.example.org"


def test_contacts_files_and_histories_of_before_the_staff_directory_still_read() -> None:
    data = json.loads(Path("notifications/contacts.example.json").read_text(encoding="utf-8"))
    del data["staff"], data["dossier_mailbox"]
    old = {**data, "dossier_managers": {"gestionnaire": "g@isula.example.org",
                                       "*": "service@isula.example.org"}}
    contacts = parse_contacts(old)
    assert contacts.staff == {"gestionnaire": StaffMember("g@isula.example.org")}
    assert contacts.dossier_manager_email("quelqu.un") == "service@isula.example.org"
    assert contacts.staff_email("quelqu.un") == ""  # the mailbox is nobody's own address

    # An incident started before: its recorded input still decodes, into the directory.
    history = WorkflowHistory.from_json("incident", Path(
        "tests/histories/incident-escalated.json").read_text(encoding="utf-8"))
    started = history.events[0].workflow_execution_started_event_attributes
    recorded = json.loads(started.input.payloads[0].data)["contacts"]
    assert "dossier_managers" in recorded and "staff" not in recorded
    [incident] = DataConverter.default.payload_converter.from_payloads(
        list(started.input.payloads), [IncidentInput])
    assert incident.contacts.staff_email("gestionnaire") == recorded["dossier_managers"]["gestionnaire"]
    assert incident.contacts.dossier_mailbox == recorded["dossier_managers"]["*"]


def _request(key: str) -> EmailRequest:
    return EmailRequest(
        template="cdc_notification",
        to=[CONTACTS.cdc_support.email],
        cc=[CONTACTS.region_contact.email],
        context=INCIDENT,
        idempotency_key=key,
        incident_id="AGORA-20261207-0001",
    )


def test_send_email_sends_once_and_records_it(smtp_server: SmtpServer, tmp_path: Path) -> None:
    notify = NotifyActivities(Settings(), smtp_server.config, tmp_path / "sent.sqlite3")
    env = ActivityEnvironment()
    first = env.run(notify.send_email, _request("incident-X:cdc_notification"))
    again = env.run(notify.send_email, _request("incident-X:cdc_notification"))

    assert again == first
    [received] = smtp_server.messages
    assert sorted(received.envelope_to) == sorted(
        [CONTACTS.cdc_support.email, CONTACTS.region_contact.email])
    assert received.message["Message-ID"] == first.message_id == smtp.message_id(
        "incident-X:cdc_notification")
    assert received.subject == first.subject
    assert "AGORA-20261207-0001" in received.text and "AGORA-20261207-0001" in received.html
    assert first.incident_id == "AGORA-20261207-0001" and first.sent_at


def test_a_failed_send_is_retried_without_sending_twice(tmp_path: Path) -> None:
    port = free_port()  # nothing listens yet: the first attempt fails
    config = smtp.SmtpConfig(host="127.0.0.1", port=port, timeout_seconds=2)
    notify = NotifyActivities(Settings(), config, tmp_path / "sent.sqlite3")
    env = ActivityEnvironment()
    with pytest.raises(OSError):
        env.run(notify.send_email, _request("incident-Y:cdc_notification"))

    server = start_smtp_server(port)
    try:
        env.run(notify.send_email, _request("incident-Y:cdc_notification"))
        env.run(notify.send_email, _request("incident-Y:cdc_notification"))
        assert len(server.messages) == 1
    finally:
        server.stop()


def test_a_retry_while_the_first_attempt_still_sends_waits_for_it(
    smtp_server: SmtpServer, tmp_path: Path
) -> None:
    # The first attempt's activity timed out while the relay was slow; Temporal's retry
    # starts while that attempt's thread still waits for the relay's answer.
    smtp_server.slow_down(1.0)
    notify = NotifyActivities(Settings(), smtp_server.config, tmp_path / "sent.sqlite3")
    request = _request("incident-Z:cdc_notification")
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(ActivityEnvironment().run, notify.send_email, request)
        time.sleep(0.3)  # the first attempt is talking to the relay
        retry = pool.submit(ActivityEnvironment().run, notify.send_email, request)
        assert retry.result(timeout=10) == first.result(timeout=10)
    assert len(smtp_server.messages) == 1


def test_a_refused_recipient_fails_the_send_without_naming_the_address(
    smtp_server: SmtpServer, tmp_path: Path
) -> None:
    staff = "paul.leca@isula.example.org"
    notify = NotifyActivities(Settings(), smtp_server.config, tmp_path / "sent.sqlite3")
    env = ActivityEnvironment()
    for refused, to in (([CONTACTS.cdc_support.email], [CONTACTS.cdc_support.email, staff]),
                        ([staff], [staff])):  # some recipients refused, then every one
        smtp_server.refuse(*refused)
        with pytest.raises(smtp.RecipientsRefused) as failure:
            env.run(notify.send_email, replace(_request(f"incident-Z:{len(to)}"), to=to, cc=[]))
        smtp_server.accept_all()
        # The message reaches logs and Temporal failures: the domain and the answer only.
        assert str(failure.value) == (
            f"1 destinataire(s) refusé(s) : …@{refused[0].partition('@')[2]} "
            "(550 5.1.1 mailbox unavailable)")
        assert failure.value.__context__ is None


def test_the_dev_sink_writes_each_message_as_an_eml_file(tmp_path: Path) -> None:
    port = free_port()
    sink = start_sink("127.0.0.1", port, tmp_path / "mail")
    try:
        email_ = render.render("cutoff_warning", CUT_OFF)
        message = smtp.build_message(email_, "agora-flow <a@example.org>", ["b@example.org"], [],
                                     "k1", datetime.now(UTC))
        smtp.send(message, replace(smtp.SmtpConfig(), port=port))
    finally:
        sink.stop()
    [eml] = list((tmp_path / "mail").glob("*.eml"))
    parsed = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert parsed["Subject"] == email_.subject


def test_sla_deadline_for_the_cli_in_paris_time() -> None:
    calendar = default_calendar([2026, 2027])
    # 30 min on 24 Dec, Christmas and the weekend closed, then 10 h 30 from Monday 07:00.
    assert format_deadline("2026-12-24T18:30:00+01:00", 11, calendar) == "2026-12-28T17:30:00+01:00"
    # Given in UTC, answered in Paris time.
    assert format_deadline("2026-07-01T05:00:00+00:00", 12, calendar) == "2026-07-01T19:00:00+02:00"
    with pytest.raises(ValueError, match="offset"):
        format_deadline("2026-12-24T18:30:00", 11, calendar)


def test_the_sent_mail_log_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    from notifications.sent_log import SentLog

    path = tmp_path / "mail" / "sent-mail.sqlite3"
    SentLog(path)
    assert path.stat().st_mode & 0o777 == 0o600


# Another process writing the sent-mail log without waiting for locks.
_WRITE_NOW = ("import sqlite3, sys\n"
              "c = sqlite3.connect(sys.argv[1], timeout=0)\n"
              "c.execute(\"INSERT INTO sent_mail VALUES ('k', 'm', 't', 'r', 's', 'i', 'sent', NULL)\")\n"
              "c.commit()")


def test_opening_the_sent_mail_log_keeps_the_locks_of_its_open_connections(tmp_path: Path) -> None:
    # A request or an activity opening the log while another thread reads it must not
    # drop that reader's lock: another process could then commit under its read.
    from notifications.sent_log import SentLog

    path = tmp_path / "sent-mail.sqlite3"
    SentLog(path)
    reader = sqlite3.connect(path)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM sent_mail").fetchone()
        SentLog(path)
        writer = subprocess.run([sys.executable, "-c", _WRITE_NOW, str(path)],
                                check=False, capture_output=True, text=True, timeout=60)
        assert writer.returncode != 0 and "database is locked" in writer.stderr, writer.stderr
    finally:
        reader.close()
