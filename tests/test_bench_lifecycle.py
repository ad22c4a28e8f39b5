"""``agora-flow bench lifecycle`` runs end to end on a tiny load: every phase completes,
nothing is lost or duplicated, every exchange is traced, and the figures are printed.
(The figures themselves are not asserted: speed is measured, never tested.)"""

from __future__ import annotations

from bench import lifecycle


async def test_the_lifecycle_bench_runs_every_phase_and_prints_its_ratios() -> None:
    report = await lifecycle.run(dossiers=2, concurrency=2)

    phases = (report.product, report.untraced, report.same_shape, report.ceiling)
    assert [(phase.workflows, phase.failures) for phase in phases] == [(2, 0)] * 4
    assert (report.lost, report.duplicated) == (0, 0)
    # Every AGORA request the simulator saw was traced by the product (tracing on).
    assert report.traces_written == report.agora_requests_seen > 0
    # Same shape: as many round trips as a lifecycle, answered with views of its sizes.
    assert report.product.round_trips is not None and report.same_shape.round_trips is not None
    assert report.same_shape.round_trips == report.product.round_trips
    lines = report.lines()
    assert any(line.startswith("RATIO product/same-shape ceiling: ") for line in lines)
    assert any(line.startswith("RATIO idle p50 / round trip: ") for line in lines)
