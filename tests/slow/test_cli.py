"""The `genrevae` command as a user runs it: a bad override is one `error:` line, exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from genrevae import cli

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"
GENREVAE = Path(sys.executable).parent / "genrevae"
MODELS = ", ".join(sorted(p.stem for p in (CONF / "model").glob("[!_]*.yaml")))


def _params(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(GENREVAE), "params", "--conf", str(CONF), "--output",
                           str(tmp_path / "params.yaml"), *overrides],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)


@pytest.mark.parametrize(
    ("override", "line"),
    [
        ("model=nonexistent",
         f"error: model: no option 'nonexistent' in conf/model/; choose one of {MODELS}"),
        ("experiment=null", "error: experiment: no option null in conf/experiment/; choose one "
                            "of feature_table, tiny"),
        ("latent_dim=", "error: latent_dim: expected an integer, got ''"),
        ("=3", "error: '=3': malformed override: no key before '='"),
        ("foo[", "error: 'foo[': malformed override (LexerNoViableAltException: foo[); write "
                 "key=value, e.g. latent_dim=64"),
        ("model.betta=3", "error: model.betta: unknown key (not in conf/)"),
        ("+model.betta=3", "error: model.betta: unknown key"),
        ("~paths.prepared", "error: paths.prepared: other keys refer to ${paths.prepared}, so it "
                            "cannot be removed"),
        ("~latent_dim", "error: latent_dim: missing"),
        ("model.beta=${oops}", "error: model.beta: refers to ${oops}, which is not a key of conf/"),
        ("latent_dim=2,3", "error: latent_dim: 'latent_dim=2,3' is a sweep; genrevae params "
                           "composes one configuration (sweep with `dvc exp run --queue -S ...`)"),
        ("train.lr=nan", "error: train.lr: must be a finite number, got nan"),
        ("features.sample_rate=7", "error: features.sample_rate: must be in [8000, 192000], got 7"),
    ],
)
def test_bad_override_is_one_error_line(tmp_path, override, line):
    out = tmp_path / "params.yaml"
    out.write_text("keep: me\n")
    proc = _params(tmp_path, override)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [line]
    assert out.read_text() == "keep: me\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]


def test_good_override_writes_params(tmp_path):
    proc = _params(tmp_path, "model=ae", "latent_dim=8")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"wrote {tmp_path / 'params.yaml'}"
    assert "latent_dim: 8" in (tmp_path / "params.yaml").read_text()


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--clips-per-song", "0"],
         "genrevae check-clips: error: argument --clips-per-song: must be at least 1, got 0"),
        (["--max-pairs", "many"],
         "genrevae check-clips: error: argument --max-pairs: expected an integer, got 'many'"),
        (["--seed", "-1"], "genrevae check-clips: error: argument --seed: must be at least 0, "
                           "got -1"),
        (["--genre", "Pop"], "error: {root}: no genre folder Pop; found Folk"),
    ],
)
def test_check_clips_refuses_bad_arguments_in_one_error_line(tmp_path, capsys, args, line):
    (tmp_path / "Folk").mkdir()
    with pytest.raises(SystemExit) as exit_:
        cli.main(["check-clips", str(tmp_path), *args])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == line.format(root=tmp_path)


def test_check_clips_refuses_a_root_that_is_not_a_folder(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["check-clips", str(tmp_path / "nope")])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: {tmp_path / 'nope'}: data root of source 'banglabeats' is not a folder"]
