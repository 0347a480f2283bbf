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


def _closed_stdout(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`genrevae ARGS | head -c 0`: the reader is gone before the command writes."""
    proc = subprocess.Popen([str(GENREVAE), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=cwd)
    proc.stdout.close()
    err = proc.stderr.read()
    proc.wait(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, "", err)


@pytest.mark.parametrize("args", [["--help"], ["params", "--help"], ["params"]])
def test_a_closed_pipe_ends_quietly(tmp_path, args):
    """Output into a pipe whose reader left stops as `yes | head` does: status 141 (the
    SIGPIPE status) or 0, nothing on stderr (it was a BrokenPipeError traceback)."""
    if args == ["params"]:
        args = ["params", "--conf", str(CONF), "--output", str(tmp_path / "p.yaml")]
    proc = _closed_stdout(*args, cwd=tmp_path)
    assert proc.returncode in (0, 141)
    assert proc.stderr == ""


@pytest.mark.parametrize(
    ("port", "line"),
    [("99999", "must be at most 65535, got 99999"), ("0", "must be at least 1, got 0"),
     ("-5", "must be at least 1, got -5"), ("http", "expected an integer, got 'http'")],
)
def test_ui_port_out_of_range_is_one_error_line(capsys, port, line):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["ui", "--port", port])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"genrevae ui: error: argument --port: {line}"


def _output_errors(tmp_path: Path) -> list[tuple[list[str], str]]:
    folder = tmp_path / "a_folder"
    folder.mkdir()
    (folder / "mine.txt").write_text("keep\n")
    missing = tmp_path / "no" / "such" / "p.yaml"
    return [
        (["params", "--conf", str(CONF), "--output", str(folder)],
         f"error: --output {folder}: is a folder; give a file name"),
        (["params", "--conf", str(CONF), "--output", str(missing)],
         f"error: --output {missing}: the folder {missing.parent} does not exist"),
        (["params", "--conf", str(CONF), "--output", str(folder / "mine.txt" / "p.yaml")],
         f"error: --output {folder / 'mine.txt' / 'p.yaml'}: the folder "
         f"{folder / 'mine.txt'} is not a folder"),
        (["compare", "--png", str(folder)], f"error: --png {folder}: is a folder; give a file name"),
        (["compare", "--png", str(missing.with_suffix(".png"))],
         f"error: --png {missing.with_suffix('.png')}: the folder {missing.parent} does not exist"),
    ]


def test_output_paths_that_cannot_be_written_are_one_error_line(tmp_path, capsys, monkeypatch):
    """`params --output` and `compare --png` onto a folder or into a missing one: refused
    before any work (compare does not even open the store), the folder untouched."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/never/mlflow.db")
    for args, line in _output_errors(tmp_path):
        with pytest.raises(SystemExit) as exit_:
            cli.main(args)
        assert exit_.value.code == 2
        assert capsys.readouterr().err.splitlines() == [line]
    assert sorted(p.name for p in (tmp_path / "a_folder").iterdir()) == ["mine.txt"]
    assert not (tmp_path / "no").exists() and not (tmp_path / "never").exists()


def _store_with_experiment(root: Path) -> str:
    """A SQLite store holding the project's experiment (one finished run)."""
    from genrevae.tracking import pipeline_run

    root.mkdir()
    uri = f"sqlite:///{root}/mlflow.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.setenv("DVC_ROOT", str(root))
        mp.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
        with pipeline_run(params={"seed": 1}) as run:
            run.finish(headline={}, history=[], table={}, artifacts=[])
    return uri


def _ui(port: int, uri: str) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    return subprocess.run([str(GENREVAE), "ui", "--port", str(port)], capture_output=True,
                          text=True, env=env, timeout=120)


def test_ui_on_a_busy_port(tmp_path):
    """A port another program holds is one `error:` line and status 2, not the address of
    that program; the MLflow UI of this very store (a real one) is recognised and its
    address printed, status 0; the UI of another store on that port is refused."""
    import os
    import signal
    import socket
    import time
    import urllib.request

    ours, other = (_store_with_experiment(tmp_path / name) for name in ("ours", "other"))
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        proc = _ui(port, ours)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"error: --port {port}: 127.0.0.1:{port} is in use by another program (not the MLflow "
        f"UI of {ours}); choose another port with --port"]
    assert proc.stdout == ""

    server = subprocess.Popen([str(Path(sys.executable).with_name("mlflow")), "ui",
                               "--backend-store-uri", ours, "--port", str(port), "--workers", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                    break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.5)
        mine, theirs = _ui(port, ours), _ui(port, other)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    assert mine.returncode == 0, mine.stderr
    assert mine.stdout.splitlines() == [
        f"the MLflow UI of {ours} is already running; runs of 'genrevae', headline columns "
        "first:", f"  http://127.0.0.1:{port}/#/experiments/1/runs?workflowType="
                  "machine_learning&viewStateShareKey=headline"]
    assert theirs.returncode == 2
    assert theirs.stderr.splitlines() == [
        f"error: --port {port}: 127.0.0.1:{port} is in use by another program (not the MLflow "
        f"UI of {other}); choose another port with --port"]


def test_ui_on_a_busy_port_with_an_empty_store(tmp_path):
    """With no experiment in the store, nothing could tell our UI from another: refused."""
    import socket

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        proc = _ui(port, f"sqlite:///{tmp_path}/mlflow.db")
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"error: --port {port}: 127.0.0.1:{port} is in use; "
                                        "choose another port with --port"]


def test_every_subcommand_has_help_that_renders(capsys) -> None:
    """`genrevae CMD --help` prints for every command, and every option says what it does
    (a bare % in a help string breaks argparse's formatting of the whole listing)."""
    import argparse

    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert commands.choices
    for name, sub in commands.choices.items():
        with pytest.raises(SystemExit) as exit_:
            cli.main([name, "--help"])
        assert exit_.value.code == 0
        assert f"usage: genrevae {name}" in capsys.readouterr().out
        for action in sub._actions:
            assert action.help, f"genrevae {name}: {action.dest} has no help text"
