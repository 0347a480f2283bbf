"""Hostile file systems, generated: output path params pointed at folders of someone's files
(inside and outside the project, through the stages and through a real `dvc exp run`), at
a file where a folder goes and a folder where a file goes; a full disk under the features
(one process and a pool) and under the prepared data; a full disk at the end of an
extraction; the features folder deleted mid-extraction; Ctrl-C mid-extraction and SIGTERM
mid-training; the umask. Each must end in one `error:` line naming the path (and the
param), exit 2 or 128 + the signal (never a signal death), print no traceback, leave the
user's files byte-identical, and be resumed by a rerun; the suite prints how many faults
it tried and how each ended."""

from __future__ import annotations

import contextlib
import copy
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from genrevae.errors import OutputError
from genrevae.io import OWNED
from genrevae.pipeline.runner import run_inline
from tests.conftest import ROOT
from tests.e2e.conftest import project  # noqa: F401 - the real-DVC fixture
from tests.pipeline.conftest import run_stages

STAGES = ("prepare", "extract_audio", "embed_lyrics", "fuse", "train", "cluster", "evaluate",
          "eda")
# How each fault ended, over the whole module; printed by the last test.
OUTCOMES: Counter = Counter()


def _pipeline(root: Path, tiny: dict, umask: int) -> Path:
    p = copy.deepcopy(tiny)
    p["features"]["n_jobs"] = 1
    (root / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    old = os.umask(umask)
    try:
        run_stages(root, STAGES)
    finally:
        os.umask(old)
    return root


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, tiny_composed) -> Path:
    """The tiny pipeline, every stage, run in-process under umask 022."""
    return _pipeline(tmp_path_factory.mktemp("ws022"), tiny_composed, 0o022)


def _params(root: Path, **paths: str) -> dict:
    p = yaml.safe_load((root / "params.yaml").read_text())
    p["paths"].update(paths)
    return p


def _write(p: dict, where: Path) -> Path:
    where.write_text(yaml.safe_dump(p, sort_keys=False))
    return where


def _someones_files(folder: Path) -> dict[str, bytes | None]:
    """A folder of files this project did not write (a subfolder, a hidden file, a PNG
    and a .npy among them, named like outputs); returns its snapshot."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "thesis.tex").write_text("\\chapter{years of work}\n")
    (folder / "photo.png").write_bytes(os.urandom(2048))
    (folder / "audio.npy").write_bytes(b"not ours")
    (folder / ".hidden").write_text("secret\n")
    (folder / "sub").mkdir(exist_ok=True)
    (folder / "sub" / "data.csv").write_text("a,b\n1,2\n")
    return _snapshot(folder)


def _snapshot(folder: Path) -> dict[str, bytes | None]:
    return {p.relative_to(folder).as_posix(): (p.read_bytes() if p.is_file() else None)
            for p in sorted(folder.rglob("*"))}


# -- #7: a stage deletes only what it created ------------------------------------------------
FOLDER_CASES = [("prepare", "prepared"), ("prepare", "corpus"),
                ("extract_audio", "audio_features"), ("embed_lyrics", "lyrics_features"),
                ("fuse", "fused"), ("evaluate", "eval_plots"), ("eda", "eda_plots"),
                ("check", "fused"), ("check", "audio_features"), ("check", "eval_plots")]


@pytest.mark.parametrize(("stage", "key"), FOLDER_CASES)
@pytest.mark.parametrize("where", ["outside", "inside"])
def test_a_folder_of_someones_files_is_refused_untouched(workspace, tmp_path, stage, key,
                                                         where) -> None:
    """Outside the project (an absolute path) or inside it (a relative one)."""
    folder = tmp_path / "mine" if where == "outside" else workspace / f"mine_{stage}_{key}"
    before = _someones_files(folder)
    value = str(folder) if where == "outside" else folder.name
    params = _write(_params(workspace, **{key: value}), tmp_path / "params.yaml")
    with contextlib.chdir(workspace), pytest.raises(OutputError) as err:
        run_inline(stage, params)
    message = str(err.value)
    assert message.startswith(f"paths.{key}: {value} holds 5 entries") and "\n" not in message
    assert _snapshot(folder) == before
    OUTCOMES["refused: output folder holds someone's files"] += 1


@pytest.mark.parametrize(("stage", "key", "value"), [
    ("fuse", "fused", "."), ("evaluate", "eval_plots", "data"),
    ("extract_audio", "audio_features", "data/features"), ("check", "eda_plots", "..")])
def test_the_project_or_a_folder_above_outputs_is_refused(workspace, tmp_path, stage, key,
                                                          value) -> None:
    params = _write(_params(workspace, **{key: value}), tmp_path / "params.yaml")
    before = sorted(p.name for p in (workspace / value).iterdir())
    with contextlib.chdir(workspace), pytest.raises(OutputError, match=rf"^paths\.{key}: "):
        run_inline(stage, params)
    assert sorted(p.name for p in (workspace / value).iterdir()) == before
    OUTCOMES["refused: output folder is the project or holds other outputs"] += 1


@pytest.mark.parametrize(("stage", "key"), [
    ("train", "model"), ("train", "loss_plot"), ("cluster", "assignments"),
    ("evaluate", "headline"), ("evaluate", "eval_metrics"), ("extract_audio", "mel"),
    ("prepare", "manifest"), ("embed_lyrics", "lyrics_embedding"), ("check", "probe")])
def test_a_folder_where_a_file_goes_is_refused_untouched(workspace, tmp_path, stage,
                                                         key) -> None:
    folder = tmp_path / "mine"
    before = _someones_files(folder)
    params = _write(_params(workspace, **{key: str(folder)}), tmp_path / "params.yaml")
    with contextlib.chdir(workspace), pytest.raises(OutputError) as err:
        run_inline(stage, params)
    assert str(err.value).startswith(f"paths.{key}: {folder} is a folder, but this output is "
                                     "a file")
    assert _snapshot(folder) == before
    OUTCOMES["refused: folder where a file goes"] += 1


def test_a_file_where_a_folder_goes_is_refused_untouched(workspace, tmp_path) -> None:
    mine = tmp_path / "notes.txt"
    mine.write_text("mine\n")
    params = _write(_params(workspace, fused=str(mine)), tmp_path / "params.yaml")
    with contextlib.chdir(workspace), pytest.raises(OutputError, match="is a file, but this "
                                                                       "output is a folder"):
        run_inline("fuse", params)
    assert mine.read_text() == "mine\n"
    OUTCOMES["refused: file where a folder goes"] += 1


def test_an_empty_or_new_folder_is_used_and_then_replaced(workspace, tmp_path) -> None:
    """The neighbours that must work: an empty folder outside the project, then the same
    folder again (now the project's: it holds the marker), and a path not there yet."""
    for value in (tmp_path / "empty", tmp_path / "empty", tmp_path / "new" / "fused"):
        value.parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "empty").mkdir(exist_ok=True)
        params = _write(_params(workspace, fused=str(value)), tmp_path / "params.yaml")
        with contextlib.chdir(workspace):
            run_inline("fuse", params)
        assert {p.name for p in value.iterdir()} == {OWNED, "audio.npy", "lyrics.npy",
                                                     "hybrid.npy", "has_lyrics.npy",
                                                     "scalers.json"}
        OUTCOMES["used: empty, new or own output folder"] += 1


@pytest.mark.e2e
def test_dvc_onto_someones_folder_deletes_nothing(project, tmp_path) -> None:  # noqa: F811
    """The issue's own reproduction, `dvc exp run -S paths.fused=<folder outside>`, and
    `dvc repro` with params.yaml naming a folder inside the project. DVC deletes a stage's
    outputs before running it, so the check stage must refuse first. (`dvc exp run` onto a
    folder inside the project is out of reach: DVC's experiment executor checks out every
    cached output with --force before any stage runs, docs/outputs.md.)"""
    outside, inside = tmp_path / "mine", project.root / "my_notes"
    try:
        for value, folder, command in (
                (str(outside), outside, ("exp", "run", "-S", f"paths.fused={outside}")),
                ("my_notes", inside, ("repro",))):
            before = _someones_files(folder)
            if command == ("repro",):
                params = yaml.safe_load((project.root / "params.yaml").read_text())
                params["paths"]["fused"] = value
                (project.root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
            proc = project.dvc(*command, check=False, timeout=900)
            out = proc.stdout + proc.stderr
            assert proc.returncode != 0, out[-3000:]
            assert f"error: paths.fused: {value} holds 5 entries" in out, out[-3000:]
            assert "Traceback" not in out and "Running stage 'prepare'" not in out
            assert _snapshot(folder) == before
            OUTCOMES[f"refused by dvc {command[0]}: output folder holds someone's files"] += 1
    finally:
        shutil.rmtree(inside, ignore_errors=True)
        project.git("checkout", "--", "params.yaml")


# -- #21: the umask --------------------------------------------------------------------------
def _output_modes(root: Path) -> dict[str, int]:
    """Mode of every output: each path param's file or folder (all inside it), and the
    folders above it that the stages created."""
    seen: set[Path] = set()
    for value in _params(root)["paths"].values():
        path = root / value
        if not path.exists():
            continue
        seen.add(path)
        seen |= {p for p in path.parents if root in p.parents}
        if path.is_dir():
            seen |= set(path.rglob("*"))
    return {p.relative_to(root).as_posix() + ("/" if p.is_dir() else ""):
            stat.S_IMODE(p.stat().st_mode) for p in seen}


def test_outputs_honour_the_umask(workspace, tmp_path_factory, tiny_composed) -> None:
    private = _pipeline(tmp_path_factory.mktemp("ws077"), tiny_composed, 0o077)
    for root, files, folders in ((workspace, 0o644, 0o755), (private, 0o600, 0o700)):
        modes = _output_modes(root)
        assert len(modes) > 50 and "models/model.pt" in modes and "data/features/fused/" in modes
        wrong = {p: oct(m) for p, m in modes.items()
                 if m != (folders if p.endswith("/") else files)}
        assert not wrong, f"{root}: {wrong}"
        OUTCOMES[f"umask honoured by every output: {oct(files)}/{oct(folders)}"] += 1


# -- #6, #17, #18: a full disk, an interrupt, a removed folder, in the real stage process ----
def _tracks_done(log: str) -> int:
    """The progress bar's count of extracted tracks (it skips counts between refreshes)."""
    return max([int(n) for n in re.findall(r"\| (\d+)/16 ", log)], default=0)


def _stage(root: Path, stage: str, params: Path, *, when=None, then=None,
           timeout: float = 600) -> tuple[int, str]:
    """Run ``stages/<stage>.py`` in ``root``; once ``when(log)`` is true, call
    ``then(process)``. Returns the exit status and the log."""
    proc = subprocess.Popen([sys.executable, str(ROOT / "stages" / f"{stage}.py"), "--params",
                             str(params)], cwd=root, stderr=subprocess.PIPE)
    os.set_blocking(proc.stderr.fileno(), False)
    log, deadline = b"", time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        log += proc.stderr.read() or b""
        if when is not None and when(log.decode(errors="replace")):
            then(proc)
            when = None
        time.sleep(0.02)
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    log += proc.stderr.read() or b""
    return proc.returncode, log.decode(errors="replace")


def _one_error_line(rc: int, log: str, expected_rc: int, *needles: str) -> None:
    assert rc == expected_rc, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    errors = [line for line in log.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, log[-3000:]
    for needle in needles:
        assert needle in errors[0], errors[0]


@contextlib.contextmanager
def _full_disk(where: Path, free_kib: int):
    """A real 20 MiB tmpfs at ``where``, filled to ``free_kib`` free; yields the filler."""
    where.mkdir(parents=True, exist_ok=True)
    got = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(where)],
                         capture_output=True, text=True)
    if got.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({got.stderr.strip()})")
    try:
        filler = where / "filler"
        with open(filler, "wb") as fh:
            try:
                os.posix_fallocate(fh.fileno(), 0, (20 << 20) - (free_kib << 10))
            except OSError:  # not even that much: fill it page by page
                with contextlib.suppress(OSError):
                    while True:
                        fh.write(b"\0" * 4096)
                        fh.flush()
        yield filler
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.mark.parametrize("n_jobs", [1, 0])
def test_full_disk_under_the_features_is_one_line_and_a_rerun_finishes(workspace, tmp_path,
                                                                        n_jobs) -> None:
    disk = tmp_path / "disk"
    with _full_disk(disk, free_kib=256) as filler:
        p = _params(workspace, audio_features=str(disk / "audio"))
        p["paths"].update({k: str(disk / "audio" / Path(p["paths"][k]).name) for k in
                           ("segments", "mel", "handcrafted", "handcrafted_columns", "skipped")})
        p["features"]["n_jobs"] = n_jobs
        params = _write(p, tmp_path / "params.yaml")
        rc, log = _stage(workspace, "extract_audio", params)
        _one_error_line(rc, log, 2, str(disk / ".audio.partial"), "No space left on device",
                        "free some space", "rerun")
        OUTCOMES["one line: disk full under the features"] += 1
        filler.unlink()
        rc, log = _stage(workspace, "extract_audio", params)
        assert rc == 0, log[-3000:]
        assert (disk / "audio" / "mel.npy").stat().st_size > 1 << 20
        OUTCOMES["rerun after freeing space finished"] += 1


def test_full_disk_at_the_end_of_an_extraction_resumes(workspace, tmp_path) -> None:
    """The arrays fit, the last small output does not: the rerun extracts nothing again."""
    disk = tmp_path / "disk"
    with _full_disk(disk, free_kib=0) as filler:
        p = _params(workspace, audio_features=str(tmp_path / "audio"),
                    handcrafted_columns=str(disk / "columns.json"))
        p["paths"].update({k: str(tmp_path / "audio" / Path(p["paths"][k]).name)
                           for k in ("segments", "mel", "handcrafted", "skipped")})
        params = _write(p, tmp_path / "params.yaml")
        rc, log = _stage(workspace, "extract_audio", params)
        _one_error_line(rc, log, 2, str(disk / "columns.json"), "No space left on device")
        OUTCOMES["one line: disk full at the end of an extraction"] += 1
        filler.unlink()
        rc, log = _stage(workspace, "extract_audio", params)
        assert rc == 0 and "16 of 16 tracks already extracted" in log, log[-3000:]
        OUTCOMES["rerun after freeing space resumed"] += 1


def test_full_disk_under_the_prepared_data_is_one_line(workspace, tmp_path) -> None:
    disk = tmp_path / "disk"
    with _full_disk(disk, free_kib=512) as filler:
        p = _params(workspace, prepared=str(disk / "prepared"))
        p["paths"].update({k: str(disk / "prepared" / Path(p["paths"][k]).name)
                           for k in ("manifest", "rejected", "table", "corpus")})
        params = _write(p, tmp_path / "params.yaml")
        rc, log = _stage(workspace, "prepare", params)
        _one_error_line(rc, log, 2, str(disk / "prepared"), "No space left on device")
        OUTCOMES["one line: disk full under the prepared data"] += 1
        filler.unlink()
        rc, log = _stage(workspace, "prepare", params)
        assert rc == 0 and (disk / "prepared" / "manifest.csv").is_file(), log[-3000:]
        OUTCOMES["rerun after freeing space finished"] += 1


def _fresh_features(workspace: Path, tmp_path: Path, n_jobs: int = 1) -> Path:
    p = _params(workspace, audio_features=str(tmp_path / "features" / "audio"))
    p["paths"].update({k: str(tmp_path / "features" / "audio" / Path(p["paths"][k]).name)
                       for k in ("segments", "mel", "handcrafted", "handcrafted_columns",
                                 "skipped")})
    p["features"]["n_jobs"] = n_jobs
    return _write(p, tmp_path / "params.yaml")


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_ctrl_c_mid_extraction_is_one_line_and_the_rerun_resumes(workspace, tmp_path,
                                                                 n_jobs) -> None:
    params = _fresh_features(workspace, tmp_path, n_jobs)
    rc, log = _stage(workspace, "extract_audio", params, when=lambda log: _tracks_done(log) >= 1,
                     then=lambda proc: proc.send_signal(signal.SIGINT))
    _one_error_line(rc, log, 130, "interrupted (SIGINT)", "rerun")
    OUTCOMES["one line: Ctrl-C mid-extraction"] += 1
    rc, log = _stage(workspace, "extract_audio", params)
    assert rc == 0 and "tracks already extracted" in log, log[-3000:]
    OUTCOMES["rerun after Ctrl-C resumed"] += 1


def test_features_folder_removed_mid_extraction_is_one_line(workspace, tmp_path) -> None:
    params = _fresh_features(workspace, tmp_path)
    rc, log = _stage(workspace, "extract_audio", params, when=lambda log: _tracks_done(log) >= 1,
                     then=lambda proc: shutil.rmtree(tmp_path / "features"))
    _one_error_line(rc, log, 2, str(tmp_path / "features"), "removed", "rerun")
    OUTCOMES["one line: features folder removed mid-extraction"] += 1
    rc, log = _stage(workspace, "extract_audio", params)
    assert rc == 0 and (tmp_path / "features" / "audio" / "mel.npy").is_file(), log[-3000:]
    OUTCOMES["rerun after the removal finished"] += 1


def test_sigterm_mid_training_is_one_line_and_leaves_no_partial_file(workspace,
                                                                     tmp_path) -> None:
    p = _params(workspace, **{k: str(tmp_path / "out" / Path(v).name) for k, v in
                              _params(workspace)["paths"].items()
                              if k in ("model", "latent", "train_metrics", "loss_history",
                                       "loss_plot")})
    p["train"].update(epochs=10_000, patience=10_000)
    params = _write(p, tmp_path / "params.yaml")
    rc, log = _stage(workspace, "train", params, when=lambda log: "train:" in log,
                     then=lambda proc: (time.sleep(1.0), proc.send_signal(signal.SIGTERM)))
    _one_error_line(rc, log, 128 + signal.SIGTERM, "interrupted (SIGTERM)", "rerun")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
    OUTCOMES["one line: SIGTERM mid-training"] += 1


def test_zz_report(capsys) -> None:
    """How many faults were tried and how each ended (the count of the module's cases)."""
    assert OUTCOMES, "run with the rest of the module"
    with capsys.disabled():
        print(f"\nhostile file systems: {sum(OUTCOMES.values())} cases tried: "
              + "; ".join(f"{n} {what}" for what, n in sorted(OUTCOMES.items())))
