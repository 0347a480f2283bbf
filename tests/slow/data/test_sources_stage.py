"""The real `prepare` stage script (a subprocess) on a corpus too small to split: the slow
part of tests/data/test_sources.py."""

from __future__ import annotations

import copy
import subprocess
import sys

import yaml

from tests.conftest import ROOT
from tests.data.test_sources import (
    _small_tree,
)


def test_prepare_stage_refuses_a_tiny_corpus_in_one_line(tmp_path, params):
    """The real stage: exit 2, one error line, and no manifest for later stages to crash on."""
    root = _small_tree(tmp_path / "small", {"blues": 1, "rock": 1}, seconds=3.5)
    raw = copy.deepcopy(params)
    raw["data"].update(name="folder", root=str(root), synthetic=None)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    proc = subprocess.run([sys.executable, str(ROOT / "stages" / "prepare.py")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: data: too few tracks to split")
    assert "tracks per genre: blues 1, rock 1)" in errors[0]
    assert not (tmp_path / raw["paths"]["manifest"]).exists()
