"""``agora-flow backfill run|status|pause|resume|cancel|report`` as the backfill team runs them."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import stat
import sys
from pathlib import Path

import pytest
from temporalio.client import Client

from cli.backfill import bar
from settings import Settings, as_environment
from tests.fixtures_backfill import sample_export

ROOT = Path(__file__).resolve().parent.parent


async def agora_flow(settings: Settings, *argv: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli", *argv, cwd=ROOT,
        env={**os.environ, **as_environment(settings)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def test_the_bar_shows_the_share_done() -> None:
    assert bar("lignes", 50, 200).count("#") == 7  # 30 wide, a quarter done
    assert "25 %" in bar("lignes", 50, 200)
    assert bar("rien à faire", 0, 0).count("#") == 30


@pytest.mark.usefixtures("backfill_worker", "clean_simulator", "clean_file_channel")
async def test_run_follows_the_campaign_to_its_report(backfill_settings: Settings,
                                                      temporal_client: Client,
                                                      tmp_path: Path) -> None:
    settings = dataclasses.replace(backfill_settings, backfill_starts_per_second=100.0)
    export = sample_export(tmp_path, 200)
    code, out, err = await agora_flow(settings, "backfill", "run", str(export),
                                      "--campaign", "CLI-1", "--who", "equipe.reprise")
    assert code == 0, err
    assert "Campagne CLI-1 démarrée" in out
    last = out[out.rindex("Campagne CLI-1 :"):]
    assert last.startswith("Campagne CLI-1 : terminée")
    assert "lignes acquittées" in last and "100 %" in last.splitlines()[4]
    assert "agora-flow backfill report CLI-1" in out

    code, out, err = await agora_flow(settings, "backfill", "status", "CLI-1")
    assert code == 0 and "terminée" in out
    report = tmp_path / "rapport.csv"
    code, out, err = await agora_flow(settings, "backfill", "report", "CLI-1", "--out", str(report))
    assert code == 0, err
    assert stat.S_IMODE(report.stat().st_mode) == 0o600
    assert report.read_text(encoding="utf-8-sig").startswith("section;ligne;num_dossier")
    code, out, err = await agora_flow(settings, "backfill", "pause", "CLI-1")
    assert code == 1 and "Campagne terminée" in err


async def test_an_unreadable_export_starts_nothing(backfill_settings: Settings,
                                                   tmp_path: Path) -> None:
    settings = backfill_settings
    export = tmp_path / "vide.csv"
    export.write_bytes(b"")
    code, _, err = await agora_flow(settings, "backfill", "run", str(export), "--campaign", "CLI-2")
    assert code == 1 and "Le fichier est vide." in err
    assert not (settings.backfill_dir / "CLI-2").exists()
    code, _, err = await agora_flow(settings, "backfill", "status", "CLI-2")
    assert code == 1 and "campagne inconnue" in err
