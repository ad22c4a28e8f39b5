"""The benchmarks are an optional extra: without it, a clear French message, not a traceback."""

import importlib.metadata
import sys

import pytest

import cli


@pytest.mark.parametrize("argv", [["bench", "lifecycle", "--dossiers", "1"],
                                  ["bench", "open-dossiers"], ["chaos", "worker-crash"]])
def test_bench_without_the_extra_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    monkeypatch.setitem(sys.modules, "psutil", None)  # as if not installed
    for name in ("bench.harness", "bench.lifecycle", "bench.open_dossiers", "bench.chaos"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    message = str(exited.value.code)
    assert "pip install -e '.[bench]'" in message
    assert "psutil est absent" in message


def test_bench_dependencies_are_an_extra_that_the_test_extra_includes() -> None:
    requires = importlib.metadata.requires("agora-flow") or []
    base = [r for r in requires if "extra ==" not in r]
    assert not [r for r in base if r.startswith(("psutil", "tqdm"))]
    assert any(r.startswith("psutil") and 'extra == "bench"' in r for r in requires)
    assert any(r.startswith("agora-flow[bench]") and 'extra == "test"' in r for r in requires)


def test_the_sign_in_bench_loads_the_api_with_checked_bad_passwords() -> None:
    """What ``agora-flow bench sign-in`` measures is real: the probe ran on an idle and on
    a loaded API, and every bad sign-in of the storm was a password check (401, never the
    throttle's 429). Its figures are printed, not asserted."""
    from bench import sign_in

    report = sign_in.run(samples=20, attackers=4)
    assert report.idle_p50_ms > 0 and report.loaded_p50_ms > 0
    assert report.attempts > 0 and set(report.statuses) == {401}
    assert report.lines()[-1].startswith("RATIO loaded/idle p50:")


def test_the_observability_bench_measures_real_calls_and_the_recording() -> None:
    """``agora-flow bench observability`` prints both costs and their ratio (not asserted)."""
    from bench import observability

    lines = observability.run(calls_per_round=3)
    assert lines[-1].startswith("RATIO recording/call ")
    assert float(lines[-1].split()[-1]) > 0
