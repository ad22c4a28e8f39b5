"""``agora-flow bench backfill`` run whole on a small sample, so that it cannot rot unseen."""

from __future__ import annotations

from bench import backfill


async def test_the_backfill_bench_runs_every_stage() -> None:
    report = await backfill.run(rows=300, chunk_rows=100, starts_seconds=0.5, validate_only=False)
    lines = report.lines()
    assert any(line.startswith("RATIO validate/baseline ") for line in lines)
    progress = report.campaign
    assert progress is not None and progress.rows == 300
    assert progress.rows_acknowledged == progress.rows_to_load > 0
    assert [stage for stage, _, _ in report.stages] == [
        "read + classify", "NIR resolution", "chunks + deposit + acks", "report + clean-up"]
    assert report.validate_peak_rss > 0 and report.worker_peak_rss > 0
