"""``agora-flow bench …`` and ``agora-flow chaos …`` subcommands."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from settings import Settings

# Kept here, not imported from bench.chaos, so that building the parser stays cheap.
CHAOS_SCENARIOS = ("worker-crash", "flaky-agora", "agora-down", "temporal-restart")


def _quiet() -> None:
    # The children log to files; here only the figures and the progress bar.
    logging.getLogger().setLevel(logging.WARNING)


def _lifecycle(args: argparse.Namespace, settings: Settings) -> None:
    from bench import harness, lifecycle

    _quiet()
    harness.stop_on_signals()
    report = asyncio.run(lifecycle.run(args.dossiers, args.concurrency, args.server))
    print("\n".join(report.lines()))


def _open_dossiers(args: argparse.Namespace, settings: Settings) -> None:
    from bench import harness, open_dossiers

    _quiet()
    harness.stop_on_signals()
    report = asyncio.run(open_dossiers.run(args.dossiers, args.concurrency, args.server,
                                           args.sample_seconds))
    print("\n".join(report.lines()))


def _chaos(args: argparse.Namespace, settings: Settings) -> None:
    from bench import chaos, harness

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

    chaos = subparsers.add_parser(
        "chaos", help="fault-injection runs; exit status 0 only if nothing was lost")
    chaos.add_argument("scenario", nargs="?", default="all", choices=[*CHAOS_SCENARIOS, "all"])
    chaos.add_argument("--dossiers", type=int, default=500)
    chaos.add_argument("--concurrency", type=int, default=50)
    chaos.set_defaults(func=_chaos)
