"""BackfillWorkflow: one backfill campaign (SPEC §6, Convention art. 7), a file pipeline.

1. the export's rows classified (SPEC §6.1) into the campaign's sealed files;
2. the NIR-resolution request deposited, AGORA's answer collected and applied;
3. ready and resolved rows written as chunks, each deposited (idempotent by its digest);
4. each chunk's acknowledgement collected and applied, as it comes;
5. the open dossiers AGORA accepted started as live DossierWorkflows, at a bounded rate;
6. the final report written, the files with personal data deleted.

An answer still missing ``answer_overdue_seconds`` after its file was deposited is marked
overdue on the campaign's progress and emailed to the campaign's contacts, once per file;
the campaign keeps looking for it.

Pause, resume and cancel are updates; a paused campaign deposits no further chunk and
starts no further dossier. A cancelled one still collects the answers to what it already
deposited (those dossiers are at AGORA), then reports. Temporal Web shows its phase and
percentage as search attributes; the workflow sees counts, file names and digests only.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.backfill import UNREADABLE, BackfillActivities
    from contracts.backfill import (
        CAMPAIGN_FINISHED,
        CANCELLED,
        DONE,
        LOADING,
        PREPARING,
        REPORTING,
        RESOLVING,
        STARTING_DOSSIERS,
        BackfillInput,
        BackfillProgress,
        CampaignStep,
        Chunk,
        ExchangedFile,
        ReportRequest,
    )
    from contracts.notify import EmailRequest
    from contracts.search_attributes import BACKFILL_PROGRESS, BACKFILL_STATE
    from workflows.notify_call import send_email

_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30),
                     non_retryable_error_types=[UNREADABLE])
_FINISHED = (REPORTING, DONE, CANCELLED)
# The version that tells the campaign's contacts when an answer is overdue.
OVERDUE_PATCH = "backfill-answer-overdue"
ANSWER_OVERDUE = "backfill_answer_overdue"


@workflow.defn
class BackfillWorkflow:
    @workflow.init
    def __init__(self, request: BackfillInput) -> None:
        self._request = request
        self._progress = BackfillProgress(campaign_id=request.campaign_id, phase=PREPARING,
                                          phase_started={PREPARING: workflow.now().isoformat()})
        self._cancelled = False
        self._attempt = timedelta(seconds=request.attempt_timeout_seconds)
        self._heartbeat = timedelta(seconds=request.heartbeat_seconds)

    @workflow.run
    async def run(self, request: BackfillInput) -> BackfillProgress:
        progress = self._progress
        prepared = await self._run(BackfillActivities.prepare, self._step(),
                                   timeout=timedelta(hours=1), heartbeat=self._heartbeat)
        progress.rows, progress.counts = prepared.rows, prepared.counts
        progress.to_resolve = prepared.counts.get("nir_to_resolve", 0)

        self._phase(RESOLVING)
        if not self._cancelled:
            await self._resolve()

        chunks: list[Chunk] = await self._run(
            BackfillActivities.write_chunks, self._step(chunk_rows=request.chunk_rows),
            timeout=timedelta(hours=1), heartbeat=self._heartbeat)
        progress.chunks = len(chunks)
        progress.rows_to_load = sum(chunk.rows for chunk in chunks)
        self._phase(LOADING)
        acknowledgements: list[asyncio.Task[tuple[Chunk, int]]] = []
        for chunk in chunks:
            if not await self._may_go_on():
                break
            await self._run(BackfillActivities.deposit_chunk,
                            self._step(name=chunk.name, digest=chunk.digest),
                            timeout=self._attempt, heartbeat=self._heartbeat)
            progress.rows_deposited += chunk.rows
            file = ExchangedFile(chunk.name, chunk.digest, chunk.rows, "chunk")
            progress.files.append(file)
            acknowledgements.append(asyncio.create_task(self._acknowledge(chunk, file)))
        to_start = await asyncio.gather(*acknowledgements)
        files = {file.name: file for file in progress.files}

        self._phase(STARTING_DOSSIERS)
        progress.open_to_start = sum(count for _, count in to_start)
        for chunk, count in to_start:
            if count == 0:
                continue
            if not await self._may_go_on():
                break
            starting = workflow.start_activity_method(
                BackfillActivities.start_open_dossiers,
                self._step(name=chunk.name, starts_per_second=request.starts_per_second,
                           dossier_task_queue=request.dossier_task_queue),
                start_to_close_timeout=timedelta(
                    seconds=60 + 2 * count / max(request.starts_per_second, 0.01)),
                heartbeat_timeout=self._heartbeat, retry_policy=_RETRY,
                # Cancelled, it answers how many it started: wait for that answer.
                cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED)
            # A cancellation stops the starts at once (the activity hears it at its next
            # heartbeat), not after the chunk's last dossier.
            await workflow.wait_condition(
                lambda starting=starting: starting.done() or self._cancelled)
            if not starting.done():
                starting.cancel()
            started = await starting
            files[chunk.name].dossiers_started = started
            progress.dossiers_started += started
            self._publish()

        outcome = CANCELLED if self._cancelled else DONE
        self._phase(REPORTING)
        progress.report = await self._run(
            BackfillActivities.write_report,
            ReportRequest(request.campaign_id, self._summary(outcome), progress.files),
            timeout=timedelta(minutes=30))
        await self._run(BackfillActivities.clean_up, self._step(), timeout=timedelta(minutes=5))
        self._phase(outcome)
        return progress

    async def _resolve(self) -> None:
        progress = self._progress
        request_file = await self._run(BackfillActivities.deposit_resolution, self._step(),
                                       timeout=self._attempt)
        if request_file is None:
            return
        progress.files.append(request_file)
        progress.resolution = await self._collect(
            BackfillActivities.collect_resolution, request_file)
        request_file.answer = "REFUSE" if progress.resolution.refused_code else "TRAITE"

    async def _acknowledge(self, chunk: Chunk, file: ExchangedFile) -> tuple[Chunk, int]:
        ack = await self._collect(BackfillActivities.collect_acknowledgement, file)
        progress = self._progress
        file.answer = "REFUSE" if ack.refused_code else "TRAITE"
        file.answer_digest = ack.answer_digest
        progress.accepted += ack.accepted
        progress.rejected += chunk.rows - ack.accepted
        progress.rows_acknowledged += chunk.rows
        self._publish()
        return chunk, ack.open_accepted

    async def _collect(self, activity: Any, file: ExchangedFile) -> Any:
        """AGORA's answer to ``file``, looked for again every ``answer_poll_seconds`` until
        it comes (a late answer only delays the campaign, and is told once overdue)."""
        poll = timedelta(seconds=self._request.answer_poll_seconds)
        answer = workflow.start_activity_method(
            activity, self._step(name=file.name, digest=file.digest),
            start_to_close_timeout=self._attempt,
            retry_policy=RetryPolicy(initial_interval=poll, backoff_coefficient=1.0,
                                     maximum_interval=poll, non_retryable_error_types=[UNREADABLE]),
            summary=f"réponse à {file.name}")
        # Campaigns started before the overdue notice replay without its timer.
        if workflow.patched(OVERDUE_PATCH):
            try:
                await workflow.wait_condition(
                    answer.done, timeout=timedelta(seconds=self._request.answer_overdue_seconds),
                    timeout_summary=f"réponse à {file.name} en retard ?")
            except TimeoutError:
                await self._overdue(file)
        return await answer

    async def _overdue(self, file: ExchangedFile) -> None:
        file.overdue_since = workflow.now().isoformat()
        self._publish()
        request = self._request
        if not request.overdue_to:
            return
        await send_email(EmailRequest(
            template=ANSWER_OVERDUE, to=list(request.overdue_to),
            idempotency_key=f"{workflow.info().workflow_id}:{ANSWER_OVERDUE}:{file.name}",
            context={"campaign_id": request.campaign_id, "file": file.name, "kind": file.kind,
                     "rows": file.rows, "overdue_since": file.overdue_since,
                     "waited_hours": round(request.answer_overdue_seconds / 3600, 1),
                     "page_url": request.page_url, "partner_name": request.partner_name}))

    async def _run(self, activity: Any, argument: Any, timeout: timedelta,
                   heartbeat: timedelta | None = None) -> Any:
        return await workflow.execute_activity_method(
            activity, argument, start_to_close_timeout=timeout, heartbeat_timeout=heartbeat,
            retry_policy=_RETRY)

    def _step(self, **fields: Any) -> CampaignStep:
        return CampaignStep(campaign_id=self._request.campaign_id, **fields)

    async def _may_go_on(self) -> bool:
        """Wait while paused; False once cancelled."""
        await workflow.wait_condition(lambda: not self._progress.paused or self._cancelled)
        return not self._cancelled

    def _phase(self, phase: str) -> None:
        self._progress.phase = phase
        self._progress.phase_started[phase] = workflow.now().isoformat()
        self._publish()

    def _publish(self) -> None:
        workflow.upsert_search_attributes([BACKFILL_STATE.value_set(self._progress.phase),
                                           BACKFILL_PROGRESS.value_set(self._progress.percent)])

    def _summary(self, outcome: str) -> list[list[str]]:
        progress = self._progress
        lines = [["campagne", outcome, progress.campaign_id], ["lignes", str(progress.rows), "lues"]]
        lines += [[name, str(count), "classe"] for name, count in progress.counts.items()]
        resolution = progress.resolution
        lines += [["nir_trouve", str(resolution.found), "résolution"],
                  ["nir_inconnu", str(resolution.unknown), "résolution"],
                  ["nir_multiple", str(resolution.several), "résolution"],
                  ["deposees", str(progress.rows_deposited), "lignes déposées"],
                  ["acceptees", str(progress.accepted), "acceptées par AGORA"],
                  ["rejetees", str(progress.rejected), "rejetées par AGORA"],
                  ["non_deposees", str(progress.rows_to_load - progress.rows_deposited),
                   "non déposées (campagne annulée)"],
                  ["dossiers_ouverts_demarres", str(progress.dossiers_started), "flux courant"]]
        return lines

    # --- pause, resume, cancel, progress ----------------------------------------------

    @workflow.update
    def pause(self) -> BackfillProgress:
        self._progress.paused = True
        return self._progress

    @workflow.update
    def resume(self) -> BackfillProgress:
        self._progress.paused = False
        return self._progress

    @workflow.update
    def cancel(self) -> BackfillProgress:
        self._cancelled = True
        self._progress.paused = False
        return self._progress

    @pause.validator
    def _may_pause(self) -> None:
        self._refuse_when_finished("mise en pause")

    @resume.validator
    def _may_resume(self) -> None:
        self._refuse_when_finished("reprise")

    @cancel.validator
    def _may_cancel(self) -> None:
        self._refuse_when_finished("annulation")

    def _refuse_when_finished(self, what: str) -> None:
        if self._progress.phase in _FINISHED:
            raise ApplicationError(f"Campagne terminée ({self._progress.phase}) : {what} impossible.",
                                   {"phase": self._progress.phase}, type=CAMPAIGN_FINISHED,
                                   non_retryable=True)

    @workflow.query
    def progress(self) -> BackfillProgress:
        return self._progress
