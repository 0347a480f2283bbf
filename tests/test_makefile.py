"""The Makefile's help is what a newcomer reads first: every target listed, values filled in."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import ROOT


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_help_lists_every_target_with_its_values() -> None:
    out = subprocess.run(["make", "--no-print-directory", "help", "UI_PORT=5123"], cwd=ROOT,
                         capture_output=True, text=True, check=True, timeout=60).stdout
    assert "$(" not in out
    assert "127.0.0.1:5123" in out
    documented = {line.split()[1] for line in out.splitlines() if line.startswith("  make ")}
    targets = {line.split(":")[0] for line in (ROOT / "Makefile").read_text().splitlines()
               if "## " in line and line[:1].isalpha()}
    assert documented == targets
