"""``agora-flow bench backfill --rows N``: the backfill's speed, stage by stage.

1. a messy sample export of N rows (``backfill sample``);
2. in the same run, on the same file, each as its own process: a bare baseline that only
   parses the CSV and rewrites it with the ``csv`` module, and ``backfill validate`` — their
   ratio, and validate's peak RSS;
3. unless ``--validate-only``: a whole campaign against the simulator (its own Temporal dev
   server, simulator with its file channel, worker): rows/s of each stage, read from the
   campaign's phases, and the worker's peak RSS. Open dossiers are started at the bounded
   rate for ``--starts-seconds`` only (their rate is a setting, not a speed to measure),
   then the campaign is cancelled and reports.
"""

from __future__ import annotations

import asyncio
import dataclasses
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from pathlib import Path

from backfill.sample import write_sample
from bench.harness import ROOT, Stack
from contracts.backfill import CANCELLED, DONE, STARTING_DOSSIERS, BackfillProgress
from settings import Settings
from temporal_client import backfill as campaigns

MB = 1024 * 1024
# The baseline: the same file parsed and written back with the csv module, nothing more.
BASELINE = """
import csv, sys
with open(sys.argv[1], encoding="cp1252", errors="replace", newline="") as source, \\
        open(sys.argv[2], "w", encoding="utf-8", newline="") as out:
    writer = csv.writer(out, delimiter=";")
    for row in csv.reader(source, delimiter=";"):
        writer.writerow(row)
"""


@dataclass
class BackfillBenchReport:
    rows: int
    file_bytes: int
    sample_seconds: float
    baseline_seconds: float
    validate_seconds: float
    validate_peak_rss: int
    stages: list[tuple[str, float, int]] = field(default_factory=list)  # (stage, seconds, rows)
    campaign: BackfillProgress | None = None
    worker_peak_rss: int = 0
    simulator_peak_rss: int = 0
    starts_seconds: float = 0.0

    def lines(self) -> list[str]:
        lines = [
            f"sample: {self.rows} rows, {self.file_bytes / MB:.1f} MB, written in {self.sample_seconds:.1f} s",
            (f"baseline (csv parse + rewrite, own process): {self.baseline_seconds:.2f} s = "
             f"{self.rows / self.baseline_seconds:,.0f} rows/s"),
            (f"validate (own process): {self.validate_seconds:.2f} s = "
             f"{self.rows / self.validate_seconds:,.0f} rows/s, peak RSS "
             f"{self.validate_peak_rss / MB:.0f} MB"),
            f"RATIO validate/baseline {self.validate_seconds / self.baseline_seconds:.2f}",
        ]
        if self.campaign is None:
            return lines
        total = 0.0
        for stage, seconds, rows in self.stages:
            lines.append(f"campaign stage {stage:<28} {seconds:7.2f} s  {rows / seconds if seconds else 0:>10,.0f} rows/s ({rows} rows)")
            total += seconds
        progress = self.campaign
        lines += [
            (f"campaign total (open dossiers' starts excluded): {total:.1f} s = "
             f"{progress.rows / total if total else 0:,.0f} rows/s"),
            (f"campaign: {progress.rows} rows, {progress.rows_to_load} loaded in {progress.chunks} "
             f"chunks, {progress.accepted} accepted, {progress.rejected} rejected by AGORA; "
             f"NIR found {progress.resolution.found}, unknown {progress.resolution.unknown}, "
             f"several {progress.resolution.several}"),
            (f"open dossiers: {progress.dossiers_started} of {progress.open_to_start} started in "
             f"{self.starts_seconds:.1f} s (bounded rate), the campaign cancelled after "
             "--starts-seconds"
             if progress.phase == CANCELLED else
             f"open dossiers: {progress.dossiers_started} of {progress.open_to_start} started"),
            (f"peak RSS: worker {self.worker_peak_rss / MB:.0f} MB, simulator "
             f"{self.simulator_peak_rss / MB:.0f} MB"),
        ]
        return lines


def _timed(command: list[str]) -> float:
    began = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - began


def measure_files(rows: int, folder: Path) -> tuple[BackfillBenchReport, Path]:
    export = folder / "echantillon.csv"
    began = time.perf_counter()
    write_sample(export, rows, seed=2026)
    sample_seconds = time.perf_counter() - began
    validate = _timed([sys.executable, "-m", "cli", "backfill", "validate", str(export), "--json",
                       "--report", str(folder / "rapport.csv"), "--database-url",
                       f"sqlite:///{folder / 'aucun-magasin.sqlite3'}"])
    # Validate is the first child waited for: the children's peak RSS is its own.
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    baseline = _timed([sys.executable, "-c", BASELINE, str(export), str(folder / "reecrit.csv")])
    return BackfillBenchReport(rows, export.stat().st_size, sample_seconds, baseline, validate,
                               peak), export


async def run(rows: int, chunk_rows: int, starts_seconds: float, validate_only: bool,
              server: str | None = None) -> BackfillBenchReport:
    with tempfile.TemporaryDirectory(prefix="agora-bench-backfill-") as folder:
        report, export = measure_files(rows, Path(folder))
        if validate_only:
            return report
        with Stack(server=server) as stack:
            stack.settings = _with(stack, chunk_rows)
            stack.start_temporal()
            stack.start_simulator()
            client = await stack.connect()
            worker = stack.start_worker()
            await stack.wait_for_poller(client, stack.settings.task_queue, worker.pid)
            campaign = await campaigns.start_campaign(client, stack.settings, export,
                                                      answer_poll_seconds=0.5)
            progress = await campaigns.progress(client, campaign)
            starts_began = 0.0
            cancelled = False
            while progress.phase not in (DONE, CANCELLED):
                if progress.phase == STARTING_DOSSIERS:
                    starts_began = starts_began or time.perf_counter()
                    if not cancelled and time.perf_counter() - starts_began > starts_seconds:
                        await campaigns.cancel(client, campaign)
                        cancelled = True
                await asyncio.sleep(0.2)
                progress = await campaigns.progress(client, campaign)
            report.campaign = progress
            report.stages = stages(progress)
            at = {phase: datetime.fromisoformat(when) for phase, when in progress.phase_started.items()}
            if STARTING_DOSSIERS in at and "reporting" in at:
                report.starts_seconds = (at["reporting"] - at[STARTING_DOSSIERS]).total_seconds()
            report.worker_peak_rss = worker.peak_rss_bytes()
            simulator = stack.meter("simulator")
            report.simulator_peak_rss = simulator.peak_rss_bytes() if simulator else 0
    return report


def _with(stack: Stack, chunk_rows: int) -> Settings:
    return dataclasses.replace(stack.settings, backfill_chunk_rows=chunk_rows)


LABELS = {"preparing": "read + classify", "resolving": "NIR resolution",
          "loading": "chunks + deposit + acks", "reporting": "report + clean-up"}


def stages(progress: BackfillProgress) -> list[tuple[str, float, int]]:
    """Each phase's duration from the instants the workflow recorded, the open dossiers'
    starts left out; the rows each stage handled."""
    rows = {"preparing": progress.rows, "resolving": progress.to_resolve,
            "loading": progress.rows_to_load, "reporting": progress.rows}
    instants = sorted(((datetime.fromisoformat(at), phase)
                       for phase, at in progress.phase_started.items()))
    return [(LABELS[phase], (until - at).total_seconds(), rows[phase])
            for (at, phase), (until, _) in pairwise(instants) if phase in LABELS]
