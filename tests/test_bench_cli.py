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
