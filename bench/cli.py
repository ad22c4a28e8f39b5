"""``agora-flow bench …`` and ``agora-flow chaos …`` subcommands.

The benchmarks' own dependencies (psutil, tqdm) are the optional extra ``bench``: this
module imports nothing of them, so that the CLI works without it, and the subcommands
import the benchmark modules only when run, saying how to install the extra if needed.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import sys
from types import ModuleType

from settings import Settings

# Kept here, not imported from bench.chaos, so that building the parser stays cheap.
CHAOS_SCENARIOS = ("worker-crash", "flaky-agora", "agora-down", "temporal-restart", "two-workers",
                   "duplicate-submissions")
# The packages of the ``bench`` extra (pyproject.toml), as their modules are named.
EXTRA_MODULES = frozenset({"psutil", "tqdm"})
MISSING_EXTRA = ("« agora-flow {command} » a besoin de l'extra « bench » ({module} est "
                 "absent). Installez-le : pip install -e '.[bench]'  (ou make install, "
                 "qui installe aussi les tests)")


def _load(command: str, *names: str) -> list[ModuleType]:
    """``bench.<name>`` modules; exits with a French message if the extra is not installed."""
    try:
        return [importlib.import_module(f"bench.{name}") for name in names]
    except ModuleNotFoundError as missing:
        if missing.name not in EXTRA_MODULES:
            raise
        sys.exit(MISSING_EXTRA.format(command=command, module=missing.name))


def _quiet() -> None:
    # The children log to files; here only the figures and the progress bar.
    logging.getLogger().setLevel(logging.WARNING)


def _trace_search(args: argparse.Namespace, settings: Settings) -> None:
    from bench.trace_search import run

    _quiet()
    for line in run(args.exchanges, args.dossiers, args.samples, args.sealed_bytes):
        print(line)


def _lifecycle(args: argparse.Namespace, settings: Settings) -> None:
    harness, lifecycle = _load("bench lifecycle", "harness", "lifecycle")
    _quiet()
    harness.stop_on_signals()
    report = asyncio.run(lifecycle.run(args.dossiers, args.concurrency, args.server))
    print("\n".join(report.lines()))


def _open_dossiers(args: argparse.Namespace, settings: Settings) -> None:
    harness, open_dossiers = _load("bench open-dossiers", "harness", "open_dossiers")
    _quiet()
    harness.stop_on_signals()
    report = asyncio.run(open_dossiers.run(args.dossiers, args.concurrency, args.server,
                                           args.sample_seconds))
    print("\n".join(report.lines()))


def _agora_path(args: argparse.Namespace, settings: Settings) -> None:
    harness, agora_path = _load("bench agora-path", "harness", "agora_path")
    _quiet()
    harness.stop_on_signals()
    print("\n".join(agora_path.run()))


def _observability(args: argparse.Namespace, settings: Settings) -> None:
    harness, observability = _load("bench observability", "harness", "observability")
    _quiet()
    harness.stop_on_signals()
    print("\n".join(observability.run(args.calls)))


def _sign_in(args: argparse.Namespace, settings: Settings) -> None:
    harness, sign_in = _load("bench sign-in", "harness", "sign_in")
    _quiet()
    harness.stop_on_signals()
    print("\n".join(sign_in.run(args.samples, args.attackers).lines()))


def _backfill(args: argparse.Namespace, settings: Settings) -> None:
    harness, backfill = _load("bench backfill", "harness", "backfill")
    _quiet()
    harness.stop_on_signals()
    report = asyncio.run(backfill.run(args.rows, args.chunk_rows, args.starts_seconds,
                                      args.validate_only, args.server))
    print("\n".join(report.lines()))


def _chaos(args: argparse.Namespace, settings: Settings) -> None:
    chaos, harness = _load("chaos", "chaos", "harness")
    _quiet()
    harness.stop_on_signals()
    scenarios = list(CHAOS_SCENARIOS) if args.scenario == "all" else [args.scenario]
    verdicts = []
    for name in scenarios:
        report = asyncio.run(chaos.run(name, chaos.ChaosOptions(dossiers=args.dossiers,
                                                                concurrency=args.concurrency)))
        print("\n".join(report.lines()), flush=True)
        verdicts.append(report.audit.ok)
    sys.exit(0 if all(verdicts) else 1)


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    bench = subparsers.add_parser("bench", help="benchmarks against the bare Temporal engine")
    benches = bench.add_subparsers(dest="bench_command", required=True)

    search = benches.add_parser(
        "trace-search", help="search by dossier in a year of synthetic traces (2 million)")
    search.add_argument("--exchanges", type=int, default=2_000_000)
    search.add_argument("--dossiers", type=int, default=200_000)
    search.add_argument("--samples", type=int, default=200)
    search.add_argument("--sealed-bytes", type=int, default=512)
    search.set_defaults(func=_trace_search)

    lifecycle = benches.add_parser(
        "lifecycle", help="full dossier lifecycles vs bare workflows, on the same server")
    lifecycle.add_argument("--dossiers", type=int, default=1000)
    lifecycle.add_argument("--concurrency", type=int, default=50,
                           help="lifecycles (and bare workflows) in flight at once")
    lifecycle.add_argument("--server", help="HOST:PORT of an existing Temporal frontend "
                                            "(default: start an in-memory dev server)")
    lifecycle.set_defaults(func=_lifecycle)

    open_ = benches.add_parser(
        "open-dossiers", help="N dossiers waiting in 'entered': worker memory and CPU")
    open_.add_argument("--dossiers", type=int, default=10_000)
    open_.add_argument("--concurrency", type=int, default=50)
    open_.add_argument("--server", help="HOST:PORT of an existing Temporal frontend")
    open_.add_argument("--sample-seconds", type=float, default=10.0,
                       help="how long the waiting worker is watched")
    open_.set_defaults(func=_open_dossiers)

    benches.add_parser(
        "agora-path", help="one AGORA call, client and simulator side: each lever against "
                           "its alternative").set_defaults(func=_agora_path)

    observability = benches.add_parser(
        "observability", help="the metrics and log line of one AGORA call against the call")
    observability.add_argument("--calls", type=int, default=60, help="calls per round")
    observability.set_defaults(func=_observability)

    sign_in = benches.add_parser(
        "sign-in", help="a static file's latency while clients keep signing in with a wrong password")
    sign_in.add_argument("--samples", type=int, default=300)
    sign_in.add_argument("--attackers", type=int, default=16)
    sign_in.set_defaults(func=_sign_in)

    backfill = benches.add_parser(
        "backfill", help="a sample export validated (vs a bare csv baseline) and loaded by a campaign")
    backfill.add_argument("--rows", type=int, default=100_000)
    backfill.add_argument("--chunk-rows", type=int, default=1000)
    backfill.add_argument("--starts-seconds", type=float, default=10.0,
                          help="how long open dossiers are started at the bounded rate")
    backfill.add_argument("--validate-only", action="store_true",
                          help="only the sample, the baseline and validate")
    backfill.add_argument("--server", help="HOST:PORT of an existing Temporal frontend")
    backfill.set_defaults(func=_backfill)

    chaos = subparsers.add_parser(
        "chaos", help="fault-injection runs; exit status 0 only if nothing was lost")
    chaos.add_argument("scenario", nargs="?", default="all", choices=[*CHAOS_SCENARIOS, "all"])
    chaos.add_argument("--dossiers", type=int, default=500)
    chaos.add_argument("--concurrency", type=int, default=50)
    chaos.set_defaults(func=_chaos)
