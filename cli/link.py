"""``agora-flow incident …`` and ``agora-flow link …``: the operators' commands, through
the same calls as the API (api/link_commands.py). The acting user is ``--who``."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from temporalio.client import Client

from cli.temporal import run_with_client
from contracts.agora_link import CRISIS_DOMAINS, CrisisMeeting, LinkState
from contracts.incident import (
    REGION_EVENT_KINDS,
    CdcReport,
    IncidentView,
    PhoneCall,
    Reclassification,
    RegionEvent,
)
from notifications.contacts import load_contacts
from settings import Settings
from state_models.public_holidays import default_calendar
from temporal_client.link import (
    INCIDENT_ACTIONS,
    LinkRefused,
    NewIncident,
    act_on_incident,
    approve_reconnection,
    cut_off,
    incident_view,
    link_state,
    list_incidents,
    load_priority_matrix,
    open_incident,
    reclassify_incident,
    record_crisis_meeting,
    record_phone_call,
)


def _run(settings: Settings, call: Callable[[Client], Awaitable[Any]]) -> Any:
    return run_with_client(settings, call, (LinkRefused,), "Refusé : ")


def _print_incident(view: IncidentView) -> None:
    priority = f"priorité {view.priority}  " if view.priority else ""
    print(f"{view.ticket}  {view.state}  {priority}gravité {view.severity}  origine {view.kind}"
          f"{'  signalée par la CDC' if view.origin == 'cdc' else ''}")
    print(f"  détecté {view.detected_at}; notifié {view.notified_at or 'non'}; "
          f"échéance {view.deadline or '—'}")
    for name, record in (("pris en compte", view.acknowledged), ("contourné", view.worked_around),
                         ("résolu", view.resolved)):
        if record:
            print(f"  {name} par {record.who} le {record.at}{' — ' + record.note if record.note else ''}")
    for email in view.emails:
        print(f"  courriel {email.template} → {', '.join(email.to)} le {email.sent_at}")


def _print_link(state: LinkState) -> None:
    print(f"liaison AGORA : {state.status}; appels en attente : {len(state.waiters)}; "
          f"incidents ouverts : {', '.join(state.open_incidents.values()) or 'aucun'}")
    if state.cut_offs:
        last = state.cut_offs[-1]
        print(f"  dernière coupure le {last.at} par {last.who} ({last.reason}); cellule de crise "
              f"avant le {last.meeting_deadline}; accords : "
              f"{', '.join(a.who for a in last.approvals) or 'aucun'}"
              f"{'; reconnectée le ' + last.reconnected_at if last.reconnected_at else ''}")


def incident_open(args: argparse.Namespace, settings: Settings) -> None:
    year = datetime.now(UTC).year
    report = (CdcReport(args.cdc_reference, args.cdc_reported_at or datetime.now(UTC).isoformat(),
                        args.cdc_reported_by or "", args.cdc_channel)
              if args.cdc_reference else None)
    incident = NewIncident(severity=args.severity or "", impact=args.impact or "",
                           urgency=args.urgency or "", description=args.description,
                           opened_by=args.who, ticket=args.ticket or "",
                           attachments=tuple(args.attachment or ()), cdc_report=report,
                           region_event=(RegionEvent(args.region_event, args.starts_at
                                                     or datetime.now(UTC).isoformat(), args.ends_at)
                                         if args.region_event else None))
    _print_incident(_run(settings, lambda client: open_incident(
        client, settings.task_queue, incident, contacts=load_contacts(),
        calendar=default_calendar(range(year, year + 3)),
        ticket_prefix=settings.incident_ticket_prefix,
        matrix=load_priority_matrix(settings.priority_matrix_file))))


def incident_reclassify(args: argparse.Namespace, settings: Settings) -> None:
    _print_incident(_run(settings, lambda client: reclassify_incident(
        client, args.ticket, Reclassification(args.impact, args.urgency, args.who, args.note))))


def incident_phone(args: argparse.Namespace, settings: Settings) -> None:
    call = PhoneCall(args.caller, args.callee, args.at, args.summary, args.who)
    _print_incident(_run(settings, lambda client: record_phone_call(client, args.ticket, call)))


def incident_list(args: argparse.Namespace, settings: Settings) -> None:
    views = _run(settings, lambda client: list_incidents(client, settings.task_queue))
    for view in views:
        _print_incident(view)
    print(f"{len(views)} incident(s)")


def incident_show(args: argparse.Namespace, settings: Settings) -> None:
    _print_incident(_run(settings, lambda client: incident_view(client, args.ticket)))


def incident_act(args: argparse.Namespace, settings: Settings) -> None:
    _print_incident(_run(settings, lambda client: act_on_incident(
        client, args.ticket, args.action, args.who, args.note)))


def link_status(args: argparse.Namespace, settings: Settings) -> None:
    _print_link(_run(settings, lambda client: link_state(client, settings.link_workflow_id)))


def link_cut_off(args: argparse.Namespace, settings: Settings) -> None:
    _print_link(_run(settings, lambda client: cut_off(
        client, settings.link_workflow_id, args.who, args.reason, args.domain,
        major_disaster=args.major_disaster)))


def link_meeting(args: argparse.Namespace, settings: Settings) -> None:
    meeting = CrisisMeeting(held_at=args.held_at, attendees=list(args.attendee),
                            minutes=args.minutes, decision=args.decision,
                            reconnection_agreed=args.reconnect, recorded_by=args.who)
    _print_link(_run(settings, lambda client: record_crisis_meeting(
        client, settings.link_workflow_id, meeting)))


def link_approve(args: argparse.Namespace, settings: Settings) -> None:
    _print_link(_run(settings, lambda client: approve_reconnection(
        client, settings.link_workflow_id, approver=args.approver,
        recorded_by=args.who, note=args.note)))


def add_commands(commands: argparse._SubParsersAction) -> None:
    incident = commands.add_parser("incident", help="incidents on the AGORA link").add_subparsers(
        dest="incident_command", required=True)
    opening = incident.add_parser("open", help="open an incident: the CDC is notified at once")
    opening.add_argument("--impact", help="all_users, fifty_users_or_more, non_essential_functions, "
                                          "few_users, one_user (with --urgency: the priority)")
    opening.add_argument("--urgency", help="high, medium, low")
    opening.add_argument("--severity", choices=["critical_major", "minor"],
                         help="instead of --impact and --urgency")
    opening.add_argument("--cdc-reference", help="an anomaly the CDC reported: its reference "
                                                 "(nothing is notified to the CDC)")
    opening.add_argument("--cdc-reported-at", help="when the CDC reported it (ISO, with offset)")
    opening.add_argument("--cdc-reported-by", help="who at the CDC reported it")
    opening.add_argument("--cdc-channel", choices=["mail", "phone"], default="mail")
    opening.add_argument("--region-event", choices=REGION_EVENT_KINDS,
                         help="an outage or planned intervention on the Region's own system: "
                              "the CDC is warned (within a day)")
    opening.add_argument("--starts-at", help="its start (ISO, with offset; default now)")
    opening.add_argument("--ends-at", help="its expected end (ISO, with offset)")
    opening.add_argument("--description", required=True)
    opening.add_argument("--who", required=True, help="your user name")
    opening.add_argument("--ticket", help="the Region's ticket number (generated if absent)")
    opening.add_argument("--attachment", action="append", help="an attachment's name or link")
    opening.set_defaults(func=incident_open)
    reclassify = incident.add_parser("reclassify", help="a new impact and urgency (deadline "
                                     "recomputed from detection)")
    reclassify.add_argument("ticket")
    reclassify.add_argument("--impact", required=True)
    reclassify.add_argument("--urgency", required=True)
    reclassify.add_argument("--who", required=True, help="your user name")
    reclassify.add_argument("--note", default="")
    reclassify.set_defaults(func=incident_reclassify)
    phone = incident.add_parser("phone", help="record a notification made by phone (confirmed "
                                "by email at once)")
    phone.add_argument("ticket")
    phone.add_argument("--caller", required=True)
    phone.add_argument("--callee", required=True)
    phone.add_argument("--at", required=True, help="when (ISO, with offset)")
    phone.add_argument("--summary", required=True, help="what was said")
    phone.add_argument("--who", required=True, help="your user name")
    phone.set_defaults(func=incident_phone)
    incident.add_parser("list", help="incidents, newest first").set_defaults(func=incident_list)
    show = incident.add_parser("show", help="one incident, its deadlines and emails")
    show.add_argument("ticket")
    show.set_defaults(func=incident_show)
    for command, action, text in (("ack", "acknowledge", "the CDC acknowledged it"),
                                  ("workaround", "work_around", "a workaround is in place"),
                                  ("resolve", "resolve", "it is fixed")):
        assert action in INCIDENT_ACTIONS
        act = incident.add_parser(command, help=f"record that {text}")
        act.add_argument("ticket")
        act.add_argument("--who", required=True, help="your user name")
        act.add_argument("--note", default="")
        act.set_defaults(func=incident_act, action=action)

    link = commands.add_parser("link", help="the AGORA link: status, cut-off, reconnection"
                               ).add_subparsers(dest="link_command", required=True)
    link.add_parser("status", help="connected or cut off, held calls").set_defaults(func=link_status)
    cut = link.add_parser("cut-off", help="disconnect AGORA now; warns the CDC, convenes the crisis cell")
    cut.add_argument("--who", required=True, help="your user name")
    cut.add_argument("--reason", required=True)
    cut.add_argument("--domain", choices=CRISIS_DOMAINS, default="production",
                     help="whose crisis cell is convened")
    cut.add_argument("--major-disaster", action="store_true",
                     help="a major disaster: both parties' escalation contacts are told at once")
    cut.set_defaults(func=link_cut_off)
    meeting = link.add_parser("meeting", help="record the crisis cell's meeting and decision")
    meeting.add_argument("--held-at", required=True, help="when (ISO, with offset)")
    meeting.add_argument("--attendee", action="append", required=True)
    meeting.add_argument("--minutes", required=True)
    meeting.add_argument("--decision", required=True)
    meeting.add_argument("--reconnect", action="store_true",
                         help="the cell expressly agrees to reconnect")
    meeting.add_argument("--who", required=True, help="your user name")
    meeting.set_defaults(func=link_meeting)
    approve = link.add_parser("approve", help="record a crisis-cell approver's agreement to reconnect")
    approve.add_argument("--approver", required=True, help="the approver's user code")
    approve.add_argument("--who", required=True, help="your user name (who records it)")
    approve.add_argument("--note", default="", help="where the written agreement is "
                                                    "(required when --who is not the approver)")
    approve.set_defaults(func=link_approve)
