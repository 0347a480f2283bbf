"""Hostile parameters, generated: seeds beyond 32 bits, a one-dimensional latent space, a
worker per track, NUL bytes, empty and multi-line output paths, genre names MLflow cannot
take as a param name, ports beyond 65535, outputs onto folders. Each bad value is refused
by the real `check` stage (or `genrevae params`, or the CLI's parser) in one `error:`
line naming the key, with no traceback; each good neighbour passes, and a genre_map of
names like "R&B" logs under names MLflow's own rule accepts. The suite prints how many
cases it tried and how many were refused, by reason."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from genrevae import cli
from genrevae.config import from_dict
from genrevae.tracking import mlflow_params
from tests.conftest import ROOT

GENREVAE = Path(sys.executable).parent / "genrevae"
OUTPUT_PATHS = ("fused", "checked")

# (dotted key, value): each must be refused naming the key.
BAD = [
    *[("seed", v) for v in (-1, 2**32, 2**32 + 1, 2**64, 10**100, 1.5, "1", True, None)],
    *[("latent_dim", v) for v in (-1, 0, 1, 1025, 2**70, 2.0)],
    *[("features.n_jobs", v) for v in (-1, 1025, 10_000, 10**9, 0.5)],
    *[(f"paths.{k}", v) for k in OUTPUT_PATHS for v in ("", "   ", "a\nb", "a\rb", "a\x00b",
                                                         "x\tb", "del\x7f")],
    ("data.root", "/data\x00/x"), ("data.lyrics", "l\x00.csv"), ("data.split", "\x00"),
    ("data.genre_map", ["R&B"]), ("data.genre_map", {"R&B": ["rnb"]}),
    ("data.genre_map", {"R\x00B": "rnb"}), ("data.genre_map", {"rock": "r\x00ck"}),
    ("features.scheduler", "tcp://h:99999"), ("model.name", "vae\x00"),
]
# Neighbours that must pass.
GOOD = [("seed", 0), ("seed", 2**32 - 1), ("latent_dim", 2), ("latent_dim", 1024),
        ("features.n_jobs", 0), ("features.n_jobs", 1024), ("paths.fused", "out dir/fused"),
        ("paths.model", "models/ünïcode/model.pt"),
        ("data.genre_map", {"R&B": "rnb", "Drum & Bass": "dnb", "gtzan:hip/hop": "hip-hop",
                            "a/../b": "x", "Música": "latin", "?*|<>": "odd"})]


def _edit(params: dict, dotted: str, value) -> dict:
    p = copy.deepcopy(params)
    *parents, leaf = dotted.split(".")
    node = p
    for key in parents:
        node = node[key]
    node[leaf] = value
    return p


def _reason(line: str, key: str) -> str:
    """The refusal's reason, as a short label (its words up to the first value)."""
    text = line.removeprefix("error: ").removeprefix(key).lstrip(" :")
    text = re.sub(r"^(key '.*?'|\.[^:]*): ", "", text)  # a genre_map key, or its value's
    return re.split(r"[,;(0-9'\[]", text, maxsplit=1)[0].strip()


def _check_stage(folder: Path, params: dict) -> subprocess.CompletedProcess:
    folder.mkdir()
    (folder / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True))
    return subprocess.run([sys.executable, str(ROOT / "stages" / "check.py")], cwd=folder,
                          capture_output=True, text=True, timeout=300)


def test_bad_params_stop_the_check_stage_in_one_line(params, tmp_path, capsys):
    """Every BAD value through the real `check` stage: exit 2, one `error:` line naming the
    key, no traceback, nothing written; every GOOD neighbour passes."""
    cases = [("bad", k, v) for k, v in BAD] + [("good", k, v) for k, v in GOOD]
    with ThreadPoolExecutor(max_workers=2) as pool:
        procs = list(pool.map(lambda c: _check_stage(tmp_path / f"case{c[0]}",
                                                     _edit(params, *c[1][1:])),
                              enumerate(cases)))
    reasons: Counter = Counter()
    for (kind, key, value), proc in zip(cases, procs, strict=True):
        where = f"{key}={value!r}"
        assert "Traceback" not in proc.stderr, where
        if kind == "good":
            assert proc.returncode == 0, (where, proc.stderr)
            continue
        assert proc.returncode == 2, where
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, (where, proc.stderr)
        top = key.split(".")[0] if key.startswith("data.genre_map") else key
        assert errors[0].startswith(f"error: {top}"), (where, errors[0])
        reasons[_reason(errors[0], key)] += 1
    with capsys.disabled():
        print(f"\nhostile params through `check`: {len(BAD)} bad tried, {sum(reasons.values())} "
              f"refused; {len(GOOD)} good neighbours passed; by reason:")
        for reason, n in reasons.most_common():
            print(f"  {n:3d}  {reason}")
    assert sum(reasons.values()) == len(BAD)


def test_genre_names_log_under_names_mlflow_accepts(params):
    """A genre_map of names like "R&B" passes check (legitimate names), and every param the
    run would log has a name MLflow's own rule accepts, none lost or merged."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from mlflow.utils.validation import _validate_param_name

    for key, value in GOOD:
        edited = _edit(params, key, value)
        from_dict(edited)
        logged, renamed = mlflow_params(edited)
        for name in logged:
            _validate_param_name(name)
        flat_keys = set(logged) - set(renamed) | set(renamed.values())
        assert len(logged) == len(flat_keys)


@pytest.mark.parametrize(("override", "key"), [
    ("seed=4294967296", "seed"), ("seed=18446744073709551616", "seed"), ("seed=-1", "seed"),
    ("latent_dim=1", "latent_dim"), ("features.n_jobs=10000", "features.n_jobs"),
    ("paths.fused=''", "paths.fused"),
])
def test_genrevae_params_refuses_in_one_line(tmp_path, override, key):
    """`genrevae params` composes and validates: the same refusals, before params.yaml."""
    out = tmp_path / "params.yaml"
    proc = subprocess.run([str(GENREVAE), "params", "--conf", str(ROOT / "conf"), "--output",
                           str(out), override], capture_output=True, text=True, cwd=tmp_path,
                          timeout=300)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {key}: "), proc.stderr
    assert not out.exists()


@pytest.mark.parametrize("port", ["99999", "65536", "0", "-1", "1e3", "", "80x"])
def test_ui_ports_outside_the_range_are_one_line(capsys, port):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["ui", "--port", port])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("genrevae ui: error: argument --port: ")
    assert "Traceback" not in "\n".join(err)


@pytest.mark.parametrize("where", ["folder", "missing", "under_a_file"])
@pytest.mark.parametrize("option", ["params --output", "compare --png"])
def test_outputs_that_cannot_be_files_are_one_line(tmp_path, capsys, monkeypatch, where, option):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/unused/mlflow.db")
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("mine\n")
    target = {"folder": tmp_path / "folder", "missing": tmp_path / "no" / "out",
              "under_a_file": tmp_path / "file" / "out"}[where]
    command, flag = option.split()
    args = [command, flag, str(target)] + (["--conf", str(ROOT / "conf")]
                                           if command == "params" else [])
    with pytest.raises(SystemExit) as exit_:
        cli.main(args)
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines()[0].startswith(f"error: {flag} {target}: ")
    assert (tmp_path / "file").read_text() == "mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "folder"]
