"""Artifacts are written atomically and joined by key, never by row order."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genrevae.errors import ArtifactError, OutputError
from genrevae.io import (
    OWNED,
    atomic_dir,
    atomic_path,
    copy_npy_rows,
    key_positions,
    load_csv,
    load_json,
    load_manifest,
    load_npy,
    npy_data_offset,
    promote_file,
    save_csv,
    save_json,
    save_npy,
    spreadsheet_text,
    to_json,
)
from genrevae.serving.predict import Prediction

ROOT = Path(__file__).resolve().parents[1]


def test_atomic_path_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "a.npy"
    save_npy(target, np.arange(3))
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed")
    np.testing.assert_array_equal(np.load(target), np.arange(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy"]


def test_atomic_dir_replaces_only_on_success(tmp_path):
    target = tmp_path / "out"
    with atomic_dir(target) as tmp:
        (tmp / "x.txt").write_text("1")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "x.txt").write_text("2")
        raise RuntimeError("killed")
    assert (target / "x.txt").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def _tree(folder: Path) -> dict[str, bytes | None]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() if p.is_file() else None
            for p in sorted(folder.rglob("*"))}


def test_atomic_dir_replaces_only_a_folder_it_wrote(tmp_path):
    """A folder of someone's files is refused, untouched; an empty one, or one holding the
    marker every atomic_dir writes, is replaced."""
    mine = tmp_path / "mine"
    (mine / "sub").mkdir(parents=True)
    (mine / "thesis.tex").write_text("years of work")
    (mine / "sub" / "x.npy").write_bytes(b"\x00" * 10)
    before = _tree(mine)
    with pytest.raises(OutputError, match=r"mine holds 2 entries this project did not write "
                                          r"\(sub, thesis.tex\)"), atomic_dir(mine) as tmp:
        (tmp / "x.txt").write_text("new")
    assert _tree(mine) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]
    empty = tmp_path / "empty"
    empty.mkdir()
    for _ in range(2):  # empty, then its own
        with atomic_dir(empty) as tmp:
            (tmp / "x.txt").write_text("new")
        assert sorted(p.name for p in empty.iterdir()) == [OWNED, "x.txt"]
    (tmp_path / "file").write_text("mine")
    with pytest.raises(OutputError, match="is a file, but this output is a folder"), \
            atomic_dir(tmp_path / "file"):
        pass
    assert (tmp_path / "file").read_text() == "mine"


def test_atomic_path_refuses_a_folder(tmp_path):
    (tmp_path / "out.json" / "inner").mkdir(parents=True)
    with pytest.raises(OutputError, match=r"out\.json is a folder, but this output is a file"):
        save_json(tmp_path / "out.json", {"a": 1})
    assert (tmp_path / "out.json" / "inner").is_dir()


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077])
def test_atomic_writers_honour_the_umask(tmp_path, mask):
    """mkstemp and mkdtemp create 0600 and 0700; the outputs get what open and mkdir give."""
    old = os.umask(mask)
    try:
        save_json(tmp_path / "a.json", {"a": 1})
        promote_file(tmp_path / "a.json", tmp_path / "b.json")
        with atomic_dir(tmp_path / "d") as tmp:
            (tmp / "x.txt").write_text("x")
        plain = tmp_path / "plain.txt"
        plain.write_text("x")
        (tmp_path / "plain").mkdir()
    finally:
        os.umask(old)
    file_mode, dir_mode = 0o666 & ~mask, 0o777 & ~mask
    for name in ("a.json", "b.json", "d/x.txt", f"d/{OWNED}", "plain.txt"):
        assert (tmp_path / name).stat().st_mode & 0o777 == file_mode, name
    for name in ("d", "plain"):
        assert (tmp_path / name).stat().st_mode & 0o777 == dir_mode, name


def test_a_write_onto_a_read_only_folder_is_one_line_naming_it(tmp_path):
    """A read-only folder (a read-only mount for root, whom permissions do not stop)."""
    ro = tmp_path / "ro"
    ro.mkdir()
    root = os.geteuid() == 0
    if root and subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(ro)],
                               capture_output=True).returncode:
        pytest.skip("cannot mount a read-only tmpfs here")
    if not root:
        ro.chmod(0o555)
    try:
        with pytest.raises(OutputError, match=r"ro/a\.json: (Permission denied|Read-only file "
                                              r"system); make it writable"):
            save_json(ro / "a.json", {"a": 1})
    finally:
        if root:
            subprocess.run(["umount", "-l", str(ro)], check=False)
        else:
            ro.chmod(0o755)


def test_csv_round_trip_keeps_ids_as_strings(tmp_path):
    frame = pd.DataFrame({"track_id": ["001", "NA"], "segment_index": [0, 1], "lyrics": ["", "x"]})
    save_csv(tmp_path / "t.csv", frame)
    back = load_csv(tmp_path / "t.csv")
    assert back["track_id"].tolist() == ["001", "NA"]
    assert back["lyrics"].isna().tolist() == [True, False]


def test_label_columns_that_look_like_numbers_come_back_as_text(tmp_path):
    """Genre `001` stays `001` (not the number 1), in any table and in the manifest."""
    frame = pd.DataFrame({"track_id": ["1", "001"], "genre": ["001", "1"], "split": ["0", "1"],
                          "path": ["0", "1"], "language": ["1", "2"], "source": ["0", "0"],
                          "lyrics": ["1", None], "duration_s": [3.0, 4.0], "extra": ["07", "8"]})
    save_csv(tmp_path / "m.csv", frame)
    table = load_csv(tmp_path / "m.csv")
    assert table["genre"].tolist() == ["001", "1"] and table["split"].tolist() == ["0", "1"]
    manifest = load_manifest(tmp_path / "m.csv")
    assert manifest["extra"].tolist() == ["07", "8"]  # a metadata column: text in the manifest
    assert manifest["duration_s"].tolist() == [3.0, 4.0]


@pytest.mark.parametrize("text", ["=cmd.wav", "-1.wav", "+1", "@a", "\tx", "\rx", "'q", "''q"])
def test_formula_text_is_escaped_in_the_file_and_restored_on_read(tmp_path, text):
    save_csv(tmp_path / "t.csv", pd.DataFrame({"path": [text, "plain"], "n": [-1.5, 2.0]}))
    raw = (tmp_path / "t.csv").read_bytes().decode("utf-8")  # as written: CRs kept
    assert spreadsheet_text(text) == "'" + text and ("'" + text) in raw
    assert "-1.5" in raw  # numbers are not text
    back = load_csv(tmp_path / "t.csv")
    assert back["path"].tolist() == [text, "plain"] and back["n"].tolist() == [-1.5, 2.0]


def test_promote_file_replaces_the_target_and_keeps_the_source(tmp_path):
    """The target holds the new content (a hard link here), the source stays, and no
    temporary file is left beside the target."""
    src, dst = tmp_path / "work" / "a.npy", tmp_path / "out" / "a.npy"
    src.parent.mkdir()
    save_npy(src, np.arange(4))
    save_npy(dst, np.zeros(2))
    promote_file(src, dst)
    np.testing.assert_array_equal(np.load(dst), np.arange(4))
    assert src.exists() and os.path.samefile(src, dst)
    assert sorted(p.name for p in dst.parent.iterdir()) == ["a.npy"]


def test_copy_npy_rows_keeps_the_chosen_rows(tmp_path, rng):
    """Row ranges of a 3-d array, copied in small chunks, equal fancy indexing."""
    a = rng.random((10, 3, 4)).astype(np.float32)
    save_npy(tmp_path / "a.npy", a)
    assert npy_data_offset(tmp_path / "a.npy")[1:] == ((10, 3, 4), np.dtype(np.float32))
    copy_npy_rows(tmp_path / "a.npy", tmp_path / "b.npy", [(0, 2), (5, 6), (7, 10)],
                  chunk_bytes=100)
    np.testing.assert_array_equal(np.load(tmp_path / "b.npy"), a[[0, 1, 5, 7, 8, 9]])


def test_key_positions_aligns_by_key_not_order():
    ref = pd.DataFrame({"track_id": ["a", "a", "b"], "segment_index": [0, 1, 0]})
    rows = ref.iloc[[2, 0, 1]].reset_index(drop=True)
    assert key_positions(ref, rows).tolist() == [2, 0, 1]
    with pytest.raises(KeyError, match="without a match"):
        key_positions(ref, pd.DataFrame({"track_id": ["c"], "segment_index": [0]}))


def _strict_loads(text: str):
    """json.loads that refuses the NaN / Infinity tokens Python's json would accept."""
    def refuse(token):
        raise AssertionError(f"invalid JSON token {token}")
    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, np.float32("nan"),
                                 np.float64("inf")])
def test_json_writers_turn_non_finite_into_null(tmp_path, bad):
    payload = {"x": bad, "nested": [1.5, bad, {"y": bad}], "array": np.array([1.0, bad]),
               "n": np.int64(3)}
    expected = {"x": None, "nested": [1.5, None, {"y": None}], "array": [1.0, None], "n": 3}
    assert _strict_loads(to_json(payload)) == expected
    save_json(tmp_path / "m.json", payload)
    assert _strict_loads((tmp_path / "m.json").read_text()) == expected


def test_json_writer_refuses_what_json_cannot_hold(tmp_path):
    """A value that is not JSON fails loudly and leaves no file (nor a temporary one)."""
    with pytest.raises(TypeError):
        save_json(tmp_path / "m.json", {"when": object()})
    assert list(tmp_path.iterdir()) == []


def test_predict_json_of_a_nan_prediction_is_valid_json():
    """`genrevae predict --format json` goes through to_json: no bare NaN on stdout."""
    pred = Prediction(path="song.wav", n_segments=1, probabilities={"rock": math.nan},
                      top="rock", nearest_cluster=None, latent=[math.nan, 0.5])
    out = _strict_loads(to_json([pred.as_dict()], ascii_only=False))
    assert out[0]["probabilities"] == {"rock": None} and out[0]["latent"] == [None, 0.5]


# ---------------------------------------------------------------- damaged artifacts

RERUN = "; rerun the stage that writes it (`dvc repro`)"


def _written(tmp_path: Path, kind: str, rng) -> tuple[Path, object]:
    """A real artifact of ``kind`` written by the project's own writer, and its reader."""
    if kind == "json":
        path = tmp_path / "metrics.json"
        save_json(path, {"best_epoch": 3, "val_loss": [1.5, 1.25], "name": "vae"})
        return path, load_json
    if kind in ("npy", "npy_mmap"):
        path = tmp_path / "z.npy"
        save_npy(path, rng.normal(size=(40, 8)).astype(np.float32))
        return path, (lambda p: load_npy(p, mmap=True)) if kind == "npy_mmap" else load_npy
    frame = pd.DataFrame({"track_id": [f"t{i:03d}" for i in range(30)], "path": "a.wav",
                          "genre": "rock", "language": "english", "source": "folder",
                          "lyrics": "", "split": "train"})
    path = tmp_path / "manifest.csv"
    save_csv(path, frame)
    return path, load_manifest if kind == "manifest" else load_csv


KINDS = ("json", "npy", "npy_mmap", "csv", "manifest")


@pytest.mark.parametrize("kind", KINDS)
def test_intact_artifacts_load(tmp_path, rng, kind):
    path, read = _written(tmp_path, kind, rng)
    assert read(path) is not None


@pytest.mark.parametrize("kind", KINDS)
def test_missing_artifact_is_one_line_naming_it(tmp_path, rng, kind):
    path, read = _written(tmp_path, kind, rng)
    path.unlink()
    with pytest.raises(ArtifactError) as info:
        read(path)
    assert str(info.value) == f"{path}: not found{RERUN}"


@pytest.mark.parametrize("fraction", [0.0, 0.01, 0.3, 0.5, 0.77, 0.999])
@pytest.mark.parametrize("kind", KINDS)
def test_truncated_artifact_is_one_line_naming_it(tmp_path, rng, kind, fraction):
    """Cut at any point (also mid-header, and to 0 bytes), a file is refused, not parsed
    into a short or garbled table. (The cut leaves out at least the last two bytes: JSON
    without its final newline is still whole.)"""
    path, read = _written(tmp_path, kind, rng)
    data = path.read_bytes()
    path.write_bytes(data[: min(int(len(data) * fraction), len(data) - 2)])
    with pytest.raises(ArtifactError, match=rf"^{re.escape(str(path))}: damaged or incomplete "
                                            rf"\(.+\){re.escape(RERUN)}$") as info:
        read(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("kind", KINDS)
def test_garbage_artifact_is_one_line_naming_it(tmp_path, rng, kind):
    """Random bytes (not UTF-8, not JSON, not .npy) behind the artifact's name."""
    path, read = _written(tmp_path, kind, rng)
    path.write_bytes(rng.integers(0, 256, size=4000, dtype=np.uint8).tobytes() + b"\n")
    with pytest.raises(ArtifactError, match=rf"^{re.escape(str(path))}: damaged or incomplete"):
        read(path)


@pytest.mark.parametrize("kind", KINDS)
def test_folder_in_place_of_an_artifact_is_one_line(tmp_path, rng, kind):
    path, read = _written(tmp_path, kind, rng)
    path.unlink()
    path.mkdir()
    with pytest.raises(ArtifactError, match=rf"^{re.escape(str(path))}: (cannot read|damaged)"):
        read(path)


def test_pickled_npy_is_refused(tmp_path):
    """An object array in a .npy would run code when unpickled: refused, not loaded."""
    path = tmp_path / "z.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ArtifactError, match=r"damaged or incomplete.*pickle"):
        load_npy(path)


def test_manifest_without_its_columns_is_refused(tmp_path):
    path = tmp_path / "manifest.csv"
    save_csv(path, pd.DataFrame({"track_id": ["a"], "genre": ["rock"]}))
    with pytest.raises(ArtifactError, match=r"manifest lacks columns \['path'"):
        load_manifest(path)


def test_take_rows_reads_a_memory_map_like_indexing(tmp_path, rng: np.random.Generator) -> None:
    """take_rows of a .npy memory map equals fancy indexing, for unsorted, repeated,
    negative and consecutive indices; a plain array is indexed; a bad index is refused."""
    from genrevae.io import take_rows

    data = rng.normal(size=(13, 3, 4)).astype(np.float32)
    save_npy(tmp_path / "a.npy", data)
    mmap = load_npy(tmp_path / "a.npy", mmap=True)
    for index in ([0], [12, 0, 5, 5, 6, 7, -1], np.arange(13)[::-1], [3, 4, 5, 9, 10],
                  np.zeros(0, dtype=int)):
        got = take_rows(mmap, np.asarray(index, dtype=int))
        assert type(got) is np.ndarray and got.dtype == np.float32
        np.testing.assert_array_equal(got, data[np.asarray(index, dtype=int)])
        np.testing.assert_array_equal(take_rows(data, np.asarray(index, dtype=int)),
                                      data[np.asarray(index, dtype=int)])
    with pytest.raises(IndexError):
        take_rows(mmap, np.array([13]))
    np.testing.assert_array_equal(take_rows(mmap[2:], np.array([0, 3])), data[[2, 5]])
