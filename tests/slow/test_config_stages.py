"""Bad params stop each real stage script (a subprocess per stage) in one line, and every
stage script has --help: the slow part of tests/test_config.py."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from tests.test_config import (
    ROOT,
    _edit,
    _stage_errors,
)


def test_stage_stops_with_one_clear_line(params, tmp_path):
    """A stage given an invalid value exits 2 with one `error:` line naming the key."""
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(_edit(params, "latent_dim", -4)))
    assert _stage_errors(bad) == [f"error: latent_dim: must be >= 2 (evaluate draws the latent "
                                  f"space in 2-D), got -4 (in {bad}: fix it, or `git checkout "
                                  f"-- {bad}` for the committed value)"]



@pytest.mark.parametrize(("text", "message"), [
    (b"seed: 1\nlatent_dim: [\n", "not valid YAML (line 3, column 1: expected the node "
                                   "content, but found '<stream end>')"),
    (b"seed: 1\nmodel: {name: vae\n  beta: 1}\n", "not valid YAML (line 3, column 7: "),
    (b"seed: 1\nname: caf\xe9\n", "not UTF-8 text (byte 17 is 0xe9)"),
])
def test_a_params_file_that_is_not_yaml_stops_a_stage_in_one_line(tmp_path, text, message):
    """A hand-edited params.yaml that does not parse (or is Latin-1): one `error:` line
    naming the file and where, not a traceback."""
    bad = tmp_path / "params.yaml"
    bad.write_bytes(text)
    errors = _stage_errors(bad)
    assert len(errors) == 1 and errors[0].startswith(f"error: {bad}: {message}"), errors



@pytest.mark.parametrize("stage", sorted(p.stem for p in (ROOT / "stages").glob("*.py")))
def test_every_stage_has_help(stage):
    proc = subprocess.run([sys.executable, str(ROOT / "stages" / f"{stage}.py"), "--help"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0
    assert "--params" in proc.stdout and f"Stage `{stage}`" in proc.stdout
