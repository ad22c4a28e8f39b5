"""The backfill campaign's side effects: classify the export, deposit request files on the
secure file channel and collect AGORA's answers, bring open dossiers to life, report.

Every activity is idempotent. A request file's bytes are built once and kept sealed, so a
retry deposits the same bytes under the same name; before depositing, the channel is asked
whether it already holds that digest, and the channel itself receives a digest once — a
worker killed mid-deposit resumes without depositing any chunk twice. An answer not yet on
the channel is a retryable failure (``AnswerNotYet``): Temporal polls again later, durably.
Personal data stay in the sealed files: payloads carry counts, names and digests only.

Rows are counted by stage and outcome (``agora_flow_backfill_rows_total``) where they move:
once per campaign step, by the attempt that did the step — a retry of a step already done
(the classification kept, the bytes already on the channel, the answer already applied, the
dossier already started) counts nothing.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from decimal import ROUND_HALF_UP
from typing import TYPE_CHECKING, Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from agora.messages import Funder, Person, TrainingAction
from contracts.backfill import (
    Acknowledged,
    CampaignStep,
    Chunk,
    ExchangedFile,
    Prepared,
    ReportFile,
    ReportRequest,
    Resolution,
)
from contracts.dossier import Backfilled, DossierInput
from observability import metrics
from settings import Settings
from state_models.backfill import LegacyRecord

if TYPE_CHECKING:  # imported when the activities run, so workflows can name them cheaply
    from agora.file_channel import FileChannel
    from backfill.campaign import CampaignFiles
    from crypto.keyring import Keyring

ANSWER_NOT_YET = "AnswerNotYet"
UNREADABLE = "BackfillFileUnreadable"
StartDossier = Callable[[DossierInput, str], Awaitable[bool]]


def backfilled_dossier(record: LegacyRecord, agora_id: str, campaign_id: str) -> DossierInput:
    """An open legacy dossier as the live flow's input: entered at its entry date."""
    hours = record.duration_hours.to_integral_value(ROUND_HALF_UP) if record.duration_hours else 0
    return DossierInput(
        dossier_id=f"REPRISE-{record.num_dossier}",
        person=Person(nir=record.nir or "", birth_name=record.birth_name,
                      first_names=record.first_names, birth_date=record.birth_date.isoformat(),
                      sex=record.sex),
        action=TrainingAction(
            siret=record.siret, action_id=record.action_code,
            title=record.action_title or record.action_code, duration_hours=int(hours),
            start_date=(record.session_start or record.entry_date).isoformat(),
            end_date=record.session_end.isoformat() if record.session_end else "",
            certification_code=record.certification_code,
            funders=[Funder(code, share) for code, share in record.funders]),
        acting_user=f"reprise:{campaign_id}",
        backfilled=Backfilled(agora_dossier_id=agora_id, state="entered",
                              entry_date=record.entry_date.isoformat(), campaign_id=campaign_id))


class BackfillActivities:
    def __init__(self, settings: Settings, start_dossier: StartDossier) -> None:
        self._settings = settings
        self._start_dossier = start_dossier
        self._channel: FileChannel | None = None
        self._keyring: Keyring | None = None
        self._open = threading.Lock()

    def _files(self, campaign_id: str) -> CampaignFiles:
        from backfill.campaign import CampaignFiles
        from crypto.keyring import load_keyring

        with self._open:
            if self._keyring is None:
                self._keyring = load_keyring(self._settings)
        return CampaignFiles(self._settings.backfill_dir, campaign_id, self._keyring)

    def _file_channel(self) -> FileChannel:
        from agora.file_channel import FileChannel, channel_config

        with self._open:
            if self._channel is None:
                self._channel = FileChannel(channel_config(self._settings))
        return self._channel

    @activity.defn(name="BackfillPrepare")
    def prepare(self, step: CampaignStep) -> Prepared:
        from backfill.held import load_held
        from backfill.reader import UnreadableExport

        files = self._files(step.campaign_id)
        fresh = not files.prepared()
        try:
            summary = files.prepare(load_held(self._settings), activity.heartbeat)
        except UnreadableExport as error:
            raise ApplicationError(str(error), type=UNREADABLE, non_retryable=True) from None
        if fresh:
            for row_class, rows in summary["counts"].items():
                metrics.backfill_rows(metrics.CLASSIFY, row_class, rows)
        return Prepared(rows=summary["rows"], counts=summary["counts"],
                        file_kind=summary["file_kind"])

    @activity.defn(name="BackfillDepositResolution")
    def deposit_resolution(self, step: CampaignStep) -> ExchangedFile | None:
        from agora.backfill_files import digest, records_in

        request = self._files(step.campaign_id).resolution_request()
        if request is None:
            return None
        name, data = request
        rows = records_in(data)
        if self._deposit(name, data):
            metrics.backfill_rows(metrics.NIR_RESOLUTION, "deposited", rows)
        return ExchangedFile(name=name, digest=digest(data), rows=rows, kind="resolution")

    @activity.defn(name="BackfillCollectResolution")
    def collect_resolution(self, step: CampaignStep) -> Resolution:
        from agora.backfill_files import records_in

        files, _, counts, fresh = self._apply_answer(
            step, lambda files, answer: files.apply_resolution(answer, step.digest),
            "Réponse illisible")
        if fresh and counts["refused_code"]:
            metrics.backfill_rows(metrics.NIR_RESOLUTION, "refused",
                                  records_in(files.request_bytes(step.name)))
        elif fresh:
            for outcome in ("found", "unknown", "several"):
                metrics.backfill_rows(metrics.NIR_RESOLUTION, outcome, int(counts[outcome]))
        return Resolution(found=int(counts["found"]), unknown=int(counts["unknown"]),
                          several=int(counts["several"]), refused_code=str(counts["refused_code"]))

    @activity.defn(name="BackfillWriteChunks")
    def write_chunks(self, step: CampaignStep) -> list[Chunk]:
        return [Chunk(**chunk) for chunk in self._files(step.campaign_id).chunks(
            step.chunk_rows, activity.heartbeat)]

    @activity.defn(name="BackfillDepositChunk")
    def deposit_chunk(self, step: CampaignStep) -> bool:
        from agora.backfill_files import digest, records_in

        activity.heartbeat("lecture")
        data = self._files(step.campaign_id).request_bytes(step.name)
        if digest(data) != step.digest:
            raise ApplicationError(f"{step.name} : empreinte changée depuis son écriture.",
                                   type=UNREADABLE, non_retryable=True)
        deposited = self._deposit(step.name, data)
        if deposited:
            metrics.backfill_rows(metrics.DEPOSIT, "deposited", records_in(data))
        activity.heartbeat("déposé")
        return deposited

    @activity.defn(name="BackfillCollectAcknowledgement")
    def collect_acknowledgement(self, step: CampaignStep) -> Acknowledged:
        from agora.backfill_files import digest, records_in

        files, answer, counts, fresh = self._apply_answer(
            step, lambda files, answer: files.apply_acknowledgement(answer, step.digest),
            "Accusé de réception illisible")
        if fresh:
            # As the campaign counts them: a row the answer does not accept is rejected, every
            # row of a chunk refused whole is refused.
            rows, accepted = records_in(files.request_bytes(step.name)), int(counts["accepted"])
            metrics.backfill_rows(metrics.ACKNOWLEDGEMENT, "accepted", accepted)
            metrics.backfill_rows(metrics.ACKNOWLEDGEMENT,
                                  "refused" if counts["refused_code"] else "rejected",
                                  rows - accepted)
        open_accepted = len(files.open_accepted(step.name)) if not counts["refused_code"] else 0
        return Acknowledged(accepted=int(counts["accepted"]), rejected=int(counts["rejected"]),
                            open_accepted=open_accepted, refused_code=str(counts["refused_code"]),
                            answer_digest=digest(answer))

    @activity.defn(name="BackfillStartOpenDossiers")
    async def start_open_dossiers(self, step: CampaignStep) -> int:
        """Start the chunk's accepted open dossiers, at most ``starts_per_second``, in the
        chunk's order; a retry resumes after the last one its heartbeat recorded (a start is
        idempotent anyway). Answer how many of the first ones are started."""
        dossiers = await asyncio.to_thread(
            lambda: self._files(step.campaign_id).open_accepted(step.name))
        done = activity.info().heartbeat_details
        first = int(done[0]) if done else 0
        pause = 1.0 / step.starts_per_second if step.starts_per_second > 0 else 0.0
        started = first
        try:
            for index in range(first, len(dossiers)):
                record, agora_id = dossiers[index]
                if await self._start_dossier(backfilled_dossier(record, agora_id, step.campaign_id),
                                             step.dossier_task_queue):
                    metrics.backfill_rows(metrics.OPEN_DOSSIERS, "started", 1)
                started = index + 1
                activity.heartbeat(started)
                await asyncio.sleep(pause)
        except asyncio.CancelledError:
            # The campaign was cancelled: answer how many live on (the first ``started``).
            return started
        return started

    @activity.defn(name="BackfillWriteReport")
    def write_report(self, request: ReportRequest) -> ReportFile:
        report = self._files(request.campaign_id).write_report(
            request.summary, [vars(f) for f in request.files])
        return ReportFile(**report)

    @activity.defn(name="BackfillCleanUp")
    def clean_up(self, step: CampaignStep) -> None:
        self._files(step.campaign_id).clean_up()

    def _deposit(self, name: str, data: bytes) -> bool:
        """Deposit unless the channel already holds these bytes; True if deposited now."""
        from agora.backfill_files import digest
        from agora.file_channel import ChannelError

        channel = self._file_channel()
        try:
            if channel.deposited_digest(name) == digest(data):
                return False
            return bool(channel.deposit(name, data))
        except ChannelError as error:
            raise ApplicationError(str(error), type="FileChannelError",
                                   non_retryable=not error.retryable) from None

    def _apply_answer(self, step: CampaignStep,
                      apply: Callable[[CampaignFiles, bytes], dict[str, Any]], unreadable: str
                      ) -> tuple[CampaignFiles, bytes, dict[str, Any], bool]:
        """The campaign's files, AGORA's answer to ``step``'s file, its counts once applied,
        and whether this attempt applied it first (a retry of an answer already applied
        counts no rows again); an answer that cannot be read fails the campaign's step."""
        from agora.backfill_files import BatchFileError

        files = self._files(step.campaign_id)
        answer = self._answer(step.name)
        fresh = not files.answered(step.name)
        try:
            counts = apply(files, answer)
        except BatchFileError as error:
            raise ApplicationError(f"{unreadable} pour {step.name} : {error}",
                                   type=UNREADABLE, non_retryable=True) from None
        return files, answer, counts, fresh

    def _answer(self, name: str) -> bytes:
        from agora.file_channel import ChannelError

        try:
            answer = self._file_channel().fetch_answer(name)
        except ChannelError as error:
            raise ApplicationError(str(error), type="FileChannelError",
                                   non_retryable=not error.retryable) from None
        if answer is None:
            raise ApplicationError(f"Pas encore de réponse d'AGORA pour {name}.", type=ANSWER_NOT_YET)
        return answer

    def all(self) -> list[Callable[..., Any]]:
        return [self.prepare, self.deposit_resolution, self.collect_resolution,
                self.write_chunks, self.deposit_chunk, self.collect_acknowledgement,
                self.start_open_dossiers, self.write_report, self.clean_up]
