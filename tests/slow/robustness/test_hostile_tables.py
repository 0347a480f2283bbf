"""Hostile and careless tables and names, generated (issue 32, the data side): genre folders
and labels that look like numbers, feature tables naming one file twice, lyrics rows joined
across folders, metadata columns named like the program's own, unreadable entries in the
tree, a backtracking data.clip_pattern, names with line breaks in the EDA report, formula
text in the CSVs, a clip just short of a segment. Each case, and its neighbours, must give
the right result or one error naming what is wrong; each test prints how many cases it
tried and their outcomes, by reason."""

from __future__ import annotations

import contextlib
import copy
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
import yaml

from genrevae.config import from_dict, load_config
from genrevae.data import clips, sources
from genrevae.data.audio import probe_audio
from genrevae.data.lyrics import join_lyrics, read_lyrics_table
from genrevae.data.synthetic import generate_track
from genrevae.eda import md_text, write_eda
from genrevae.errors import AudioError, ConfigError, DataError
from genrevae.features.audio import handcrafted_columns
from genrevae.io import load_csv, load_manifest, save_csv
from genrevae.pipeline.runner import run_inline
from genrevae.spreadsheet import FORMULA_STARTS
from tests.conftest import ROOT

SR = 22050
FORMULA = "=cmd|' /C calc'!A0"
FEATURES = handcrafted_columns()


def _clip(path: Path, seconds: float = 1.5) -> Path:
    """A short tone plus noise, different for every path (no accidental duplicates)."""
    rng = np.random.default_rng(zlib.crc32(path.as_posix().encode()))
    t = np.arange(round(seconds * SR)) / SR
    y = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 2000) * t) + 0.05 * rng.standard_normal(t.size)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y.astype(np.float32), SR)
    return path


def _report(capsys, what: str, outcomes: dict[str, str]) -> None:
    counts = Counter(outcomes.values())
    with capsys.disabled():
        print(f"\nhostile tables, {what}: {len(outcomes)} tried: "
              + ", ".join(f"{n} {reason}" for reason, n in counts.most_common()))


def _data(params: dict, **data):
    raw = copy.deepcopy(params)
    raw["data"].update(synthetic=None, **data)
    return from_dict(raw).data


def _build(cfg, tmp: Path) -> sources.Prepared:
    return sources.build_manifest(cfg, seed=3, corpus_dir=tmp / "corpus", min_seconds=1.0,
                                  feature_columns=FEATURES)


def _round_trip(prepared: sources.Prepared, tmp: Path) -> pd.DataFrame:
    save_csv(tmp / "manifest.csv", prepared.manifest)
    return load_manifest(tmp / "manifest.csv")


# --- 1: names that look like numbers ---------------------------------------------------------

ODD_GENRES = ["0", "1", "2", "001", "01", "1.0", "-1", "+1", "1e3", "0x10", "inf", "nan", "NA",
              "None", "True", "null", "１"]


def test_genre_folders_that_look_like_numbers_stay_distinct_strings(params, tmp_path, capsys):
    """Every folder is its own genre, read back from manifest.csv exactly as named."""
    root = tmp_path / "music"
    for genre in ODD_GENRES:
        for i in range(3):
            _clip(root / genre / f"{i}.wav")
    manifest = _round_trip(_build(_data(params, name="folder", root=str(root)), tmp_path),
                           tmp_path)
    got = manifest.groupby("genre").size()
    outcomes = {g: "kept" if got.get(g) == 3 else "changed" for g in ODD_GENRES}
    _report(capsys, "genre folders named like numbers", outcomes)
    assert set(outcomes.values()) == {"kept"} and len(got) == len(ODD_GENRES)
    assert manifest["genre"].map(type).eq(str).all()
    assert manifest["track_id"].map(type).eq(str).all()


def _feature_table(names: list[str], labels: list[str], seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    feats = pd.DataFrame(rng.normal(size=(len(names), len(FEATURES))), columns=FEATURES)
    return pd.concat([pd.DataFrame({"filename": names, "length": 661794}), feats,
                      pd.DataFrame({"label": labels})], axis=1)


def test_feature_table_labels_that_look_like_numbers_stay_strings(params, tmp_path, capsys):
    labels = ["0", "1", "2", "001", "NA", "1.0"]
    names = [f"t{i:03d}.wav" for i in range(4 * len(labels))]
    path = tmp_path / "table.csv"
    _feature_table(names, [labels[i % len(labels)] for i in range(len(names))]).to_csv(
        path, index=False)
    manifest = _round_trip(_build(_data(params, name="features_table", root=str(path)),
                                  tmp_path), tmp_path)
    got = manifest.groupby("genre").size()
    outcomes = {g: "kept" if got.get(g) == 4 else "changed" for g in labels}
    _report(capsys, "feature-table labels named like numbers", outcomes)
    assert set(outcomes.values()) == {"kept"} and len(got) == len(labels)


# --- 2: a feature table naming one file twice ------------------------------------------------

REPEATS = {
    "same name three times, one labelled rock": (
        ["blues.00000.wav", "blues.00000.wav", "blues.00000.wav"], ["blues", "blues", "rock"]),
    "upper-case copy": (["BLUES.00000.WAV", "blues.00000.wav"], ["blues", "blues"]),
    "with and without extension": (["blues.00000", "blues.00000.wav"], ["blues", "blues"]),
    "in two folders": (["a/blues.00000.wav", "b/blues.00000.wav"], ["blues", "blues"]),
    "3-s segment twice": (["blues.00000.0.wav", "blues.00000.0.wav"], ["blues", "blues"]),
    "padded with spaces": ([" blues.00000.wav", "blues.00000.wav "], ["blues", "blues"]),
    # neighbours: names alike but distinct
    "segment beside its track": (["blues.00000.wav", "blues.00000.1.wav"], ["blues", "blues"]),
    "one digit apart": (["blues.00000.wav", "blues.00001.wav"], ["blues", "blues"]),
}


def test_feature_table_naming_a_file_twice_is_refused_naming_the_rows(params, tmp_path, capsys):
    outcomes = {}
    for case, (repeated, labels) in REPEATS.items():
        names = [*repeated, *[f"{g}.{i:05d}.wav" for g in ("jazz", "rock") for i in range(10, 14)]]
        path = tmp_path / f"{len(outcomes)}.csv"
        _feature_table(names, [*labels, *[n.split(".")[0] for n in names[len(labels):]]]
                       ).to_csv(path, index=False)
        try:
            _build(_data(params, name="features_table", root=str(path)), tmp_path)
            outcomes[case] = "used"
        except DataError as exc:
            message = str(exc)
            assert "\n" not in message and message.startswith(str(path))
            assert "(row 2)" in message and "(row 3)" in message, message
            outcomes[case] = "refused: repeated file name"
    _report(capsys, "feature tables naming a file twice", outcomes)
    assert [c for c, o in outcomes.items() if o == "used"] == ["segment beside its track",
                                                              "one digit apart"]


# --- 5: a lyrics row joins its own folder only -----------------------------------------------

TRACKS = [("rock/t1", "t1"), ("blues/t1", "t1"), ("jazz/t1", "t1"), ("t1",)]
JOINS = {  # table rows -> lyrics each of TRACKS gets
    "row names rock": ({"rock/t1.wav": "R"}, ["R", None, None, "R"]),
    "row names ROCK\\T1.MP3": ({"ROCK\\T1.MP3": "R"}, ["R", None, None, "R"]),
    "row names a deeper path": ({"data/raw/rock/t1.flac": "R"}, ["R", None, None, "R"]),
    "row names another folder": ({"pop/t1.wav": "P"}, [None, None, None, "P"]),
    "row names no folder": ({"t1.wav": "A"}, ["A", "A", "A", "A"]),
    "rows for rock and blues": ({"rock/t1": "R", "blues/t1": "B"}, ["R", "B", None, None]),
    "folder row beside a bare row": ({"rock/t1": "R", "t1": "A"}, ["R", "A", "A", "A"]),
    "row names a folder of the same name": ({"t1/t1": "X"}, [None, None, None, "X"]),
}


def test_lyrics_rows_join_only_the_folder_they_name(tmp_path, capsys):
    outcomes = {}
    for case, (rows, want) in JOINS.items():
        path = tmp_path / f"{len(outcomes)}.csv"
        pd.DataFrame({"filename": list(rows), "lyrics": list(rows.values())}).to_csv(
            path, index=False)
        got = join_lyrics(read_lyrics_table(path), TRACKS)["lyrics"].tolist()
        outcomes[case] = "right tracks" if got == want else f"wrong: {got}"
    _report(capsys, "lyrics rows and folders", outcomes)
    assert set(outcomes.values()) == {"right tracks"}, outcomes


def test_metadata_row_does_not_reach_other_genre_folders(params, tmp_path):
    """Through prepare: the row `rock/t1` sets rock/t1's artist only."""
    root = tmp_path / "music"
    for genre in ("rock", "blues", "jazz"):
        for i in range(3):
            _clip(root / genre / f"t{i}.wav")
    table = tmp_path / "meta.csv"
    pd.DataFrame({"track": ["rock/t1"], "artist": ["Solo"], "mood": ["dark"]}).to_csv(
        table, index=False)
    m = _build(_data(params, name="folder", root=str(root), metadata=str(table)),
               tmp_path).manifest.set_index("track_id")
    assert m.loc["rock/t1", "mood"] == "dark" and m.loc["rock/t1", "group"] == "artist:solo"
    assert m["mood"].notna().sum() == 1 and (m["group"] == "artist:solo").sum() == 1


# --- 9: metadata columns named like the program's own ----------------------------------------

RESERVED = {  # metadata columns -> what prepare must do
    "_digest": ({"_digest": "same"}, "renamed"),
    "_keys": ({"_keys": "x"}, "renamed"),
    "_main": ({"_main": ""}, "renamed"),
    "key": ({"key": "C minor"}, "renamed"),
    "has_lyrics": ({"has_lyrics": "yes"}, "renamed"),
    "source": ({"source": "elsewhere"}, "renamed"),
    "segment_index": ({"segment_index": "4"}, "renamed"),
    "genre": ({"genre": "pop"}, "renamed"),
    "genre beside meta_genre": ({"genre": "pop", "meta_genre": "rock"}, "refused"),
    "key beside meta_key": ({"key": "C", "meta_key": "D"}, "refused"),
    "Mood beside mood": ({"Mood": "a", "mood": "b"}, "refused"),
    "mood (neighbour)": ({"mood": "calm"}, "kept"),
}


def test_metadata_cannot_set_the_programs_own_columns(params, tmp_path, capsys):
    """Reserved names are kept as meta_<name> (so `_digest` cannot change which files are
    copies, nor `genre` a track's genre); two columns that would share a name are refused."""
    root = tmp_path / "music"
    for genre in ("a", "b"):
        for i in range(3):
            _clip(root / genre / f"t{i}.wav")
    shutil.copyfile(root / "a" / "t0.wav", root / "b" / "copy.wav")  # a real copy
    tracks = sorted(p.relative_to(root).with_suffix("").as_posix() for p in root.rglob("*.wav"))
    outcomes = {}
    for case, (columns, _) in RESERVED.items():
        table = tmp_path / f"meta{len(outcomes)}.csv"
        frame = pd.DataFrame({"track": tracks})
        for i, (name, value) in enumerate(columns.items()):
            # a different value per track for `_digest`, so a copy would look distinct
            frame.insert(i + 1, name, [f"{value}{j}" if case == "_digest" else value
                                       for j in range(len(tracks))])
        frame.to_csv(table, index=False)
        try:
            prepared = _build(_data(params, name="folder", root=str(root), metadata=str(table)),
                              tmp_path)
        except DataError as exc:
            assert "\n" not in str(exc) and str(exc).startswith(str(table)), exc
            outcomes[case] = "refused"
            continue
        m = _round_trip(prepared, tmp_path)
        assert sorted(m["genre"].unique()) == ["a", "b"]  # the folders say the genre
        assert prepared.rejected["reason"].tolist() == ["duplicate"]  # the copy, by its bytes
        name = next(iter(columns)).lower()
        renamed = f"meta_{name}" in m.columns
        assert renamed or name in m.columns
        assert not {"_digest", "_keys", "_main"} & set(m.columns)
        outcomes[case] = "renamed" if renamed else "kept"
    _report(capsys, "metadata columns named like the program's", outcomes)
    assert outcomes == {case: want for case, (_, want) in RESERVED.items()}


# --- 10: entries the walk may not read -------------------------------------------------------


def _as_unprivileged() -> list[str]:
    """The command prefix that runs a process without root's right to read everything."""
    if os.getuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot drop the right to read all")
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]


def test_unreadable_entries_are_left_out_with_a_reason(tmp_path, capsys):
    """/proc/1 holds links that only root may read (`cwd`, `root`, `exe`): the walk lists
    each as unreadable instead of dying in os.readlink; prepare on it, or on an unreadable
    root, ends in one error line."""
    prefix = _as_unprivileged()
    tmp_path.chmod(0o777)
    (tmp_path / "nb").mkdir(mode=0o777)
    (tmp_path / "nb").chmod(0o777)
    # Paths relative to the working folder: the user may not reach the tests' folder by name.
    script = ("import sys, collections; from pathlib import Path; "
              "from genrevae.data.tree import walk_tree; w = walk_tree(Path('/proc/1')); "
              "print(dict(collections.Counter(r for _, r, _ in w.left_out)))")
    # numba caches its kernels beside the source, which that user may not write
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "NUMBA_CACHE_DIR": "nb"}
    proc = subprocess.run([*prefix, sys.executable, "-c", script], capture_output=True,
                          text=True, timeout=300, env=env, cwd=tmp_path)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    reasons = {k: int(v) for k, v in
               re.findall(r"'(\w+)': (\d+)", proc.stdout.strip().splitlines()[-1])}
    assert reasons.get("unreadable", 0) >= 1, proc.stdout
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o700)
    outcomes = {"/proc/1 walked": "unreadable entries listed"}
    for case, root in (("prepare on /proc/1", "/proc/1"), ("unreadable root", locked.name)):
        raw = yaml.safe_load((ROOT / "params.yaml").read_text())
        raw["data"].update(name="folder", root=root, synthetic=None, lyrics=None, metadata=None,
                           extra_sources=[], split="random")
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
        (tmp_path / "params.yaml").chmod(0o644)
        proc = subprocess.run([*prefix, sys.executable, str(ROOT / "stages" / "prepare.py")],
                              capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
        assert len(errors) == 1 and root in errors[0] and "no usable track" in errors[0]
        outcomes[case] = "one error line"
    _report(capsys, "unreadable entries", outcomes)


# --- 12: a data.clip_pattern that backtracks -------------------------------------------------

PATTERNS = {  # pattern -> outcome on a long name that does not match
    r"^(?P<song>(a|aa)+)(?P<clip>\d+)$": "refused: data.clip_pattern",
    r"^(?P<song>(a|a)+)_(?P<clip>\d+)$": "refused: data.clip_pattern",
    r"^(?P<song>(a+)+)(?P<clip>\d+)$": "grouped",  # the regex engine sees through this one
    r"^(?P<song>(\w+\s?)+)(?P<clip>\d+)$": "grouped",
    r"^(?P<song>.+?)[._ -]*\(?(?P<clip>\d+)\)?$": "grouped",  # the default
    "(": "refused: data.clip_pattern",  # not a pattern
    r"(?P<clip>\d+)": "refused: data.clip_pattern",  # no song group
}


def test_backtracking_clip_pattern_is_stopped_naming_the_key(params, capsys):
    names = [("Folk", "a" * 60 + "!0"), ("Folk", "song12_3"), ("Folk", "12")]
    outcomes = {}
    for pattern, want in PATTERNS.items():
        try:
            from_dict({**params, "data": {**params["data"], "clip_pattern": pattern}})
            clips.song_groups(names, clip_pattern=pattern, clips_per_song=10)
            outcomes[pattern] = "grouped"
        except ConfigError as exc:
            assert str(exc).startswith("data.clip_pattern:") and "\n" not in str(exc)
            outcomes[pattern] = "refused: data.clip_pattern"
        assert outcomes[pattern] == want, (pattern, outcomes[pattern])
    _report(capsys, "clip patterns", outcomes)


def test_prepare_with_a_backtracking_clip_pattern_ends_in_one_error(tmp_path):
    root = tmp_path / "bangla"
    for i, stem in enumerate(["a" * 40 + "!0", "song1_1", "song1_2"]):
        for genre in ("Folk", "Rock"):
            _clip(root / genre / f"{stem}{'' if i else genre}.wav")
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["data"].update(name="banglabeats", root=str(root), synthetic=None, lyrics=None,
                       metadata=None, extra_sources=[], split="random",
                       clip_pattern=r"^(?P<song>(a|aa)+)(?P<clip>\d+)$")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    proc = subprocess.run([sys.executable, str(ROOT / "stages" / "prepare.py")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert len(errors) == 1 and errors[0].startswith("error: data.clip_pattern:")


# --- 20: names with line breaks in the EDA report --------------------------------------------

EDA_GENRES = ["plain", "new\nline", "carriage\rreturn", "tab\there", "pipe|name", "back\\slash",
              "line\u2028sep", "bell\x07"]


@pytest.mark.filterwarnings("ignore:Glyph .* missing from font")
def test_eda_report_keeps_one_row_per_genre(tmp_path, capsys):
    rows = [{"track_id": f"{g}/{i}", "path": f"{g}/{i}.wav", "genre": g, "language": "english",
             "source": "folder", "lyrics": None, "split": ["train", "val", "test"][i],
             "duration_s": 2.0, "sample_rate": SR, "channels": 1, "rms_db": -20.0}
            for g in EDA_GENRES for i in range(3)]
    manifest = pd.DataFrame(rows)
    segments = manifest[["track_id", "genre", "split"]].assign(segment_index=0)
    rejected = pd.DataFrame({"path": ["x\ny.wav"], "source": ["folder"], "reason": ["empty"],
                             "detail": ["a\nb"]})
    write_eda(manifest, rejected, segments, tmp_path / "plots", tmp_path / "eda.md")
    lines = (tmp_path / "eda.md").read_text(encoding="utf-8").split("\n")
    start = lines.index("## Tracks per genre and language") + 3  # title, header, rule
    body = lines[start:lines.index("", start)]
    outcomes = {g: "one row" if sum(line.startswith(f"| {md_text(g)} ") for line in body) == 1
                else "split" for g in EDA_GENRES}
    _report(capsys, "genre names in the EDA report", outcomes)
    assert len(body) == len(EDA_GENRES) and set(outcomes.values()) == {"one row"}, body
    assert any(r"new\nline" in line for line in body) and any(r"pipe\|name" in line for line in body)
    left = lines.index("## Files left out") + 3
    assert lines[left + 1] == "" and r"x\ny.wav" in lines[left]


# --- 22: formula text in the CSVs ------------------------------------------------------------

FORMULA_NAMES = ["=cmd.wav", "-1.wav", "+1.wav", "@sum.wav", "\tTab.wav", "\rcr.wav",
                 "'quoted.wav", "''twice.wav", "=", "-", "plain.wav", "a=b.wav", FORMULA,
                 "=HYPERLINK(\"http://x\")", "-2+3", "@", "mid\rcr", "crlf\r\nlyric"]


def _formula_cells(path: Path) -> list[str]:
    """The cells of the CSV ``path`` a spreadsheet would run: text (not a number) starting
    with one of FORMULA_STARTS."""
    with open(path, newline="", encoding="utf-8") as fh:
        cells = [cell for row in csv.reader(fh) for cell in row]
    return [c for c in cells if c.startswith(FORMULA_STARTS) and not _is_number(c)]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_formula_text_is_escaped_on_write_and_restored_on_read(tmp_path, capsys):
    frame = pd.DataFrame({"track_id": FORMULA_NAMES, "path": [f"/d/{n}" for n in FORMULA_NAMES],
                          "genre": FORMULA_NAMES, "lyrics": FORMULA_NAMES,
                          "n": range(len(FORMULA_NAMES)), FORMULA: "x"})
    save_csv(tmp_path / "t.csv", frame)
    dangerous = _formula_cells(tmp_path / "t.csv")
    back = load_csv(tmp_path / "t.csv", text=lambda c: c != "n")
    outcomes = {n: "escaped and restored" if back["track_id"].tolist()[i] == n else "changed"
                for i, n in enumerate(FORMULA_NAMES)}
    _report(capsys, "formula text in CSV cells", outcomes)
    assert dangerous == []
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)


# --- 23: a clip just short of a segment ------------------------------------------------------


def test_short_clip_reason_never_rounds_up_to_the_segment(tmp_path, capsys):
    outcomes = {}
    for short in (1, 2, 22, 221, 2205, SR):  # samples short of 3 s
        path = tmp_path / f"short{short}.wav"
        sf.write(path, 0.3 * np.sin(np.arange(3 * SR - short) / 5.0), SR)
        with pytest.raises(AudioError) as err:
            probe_audio(path, min_seconds=3.0)
        said = float(re.search(r": ([0-9.]+) s is shorter", str(err.value))[1])
        outcomes[str(short)] = "below 3 s" if said < 3.0 else f"says {said}"
    path = tmp_path / "exact.wav"
    sf.write(path, 0.3 * np.sin(np.arange(3 * SR) / 5.0), SR)
    probe_audio(path, min_seconds=3.0)
    outcomes["0"] = "used"
    _report(capsys, "clips just short of a segment", outcomes)
    assert set(outcomes.values()) == {"below 3 s", "used"}, outcomes


# --- the pipeline on numeric genres, formula names and per-folder lyrics ---------------------

PIPE_GENRES = {"0": "blues", "1": "classical", "2": "hiphop", "001": "metal"}
PIPE_NAMES = ["=cmd", "-1", "t2", "t3"]


@pytest.fixture(scope="module")
def numeric_pipeline(tmp_path_factory, tiny_composed) -> Path:
    """prepare to evaluate, in-process, on genre folders 0, 1, 2 and 001 holding files
    named `=cmd.wav` and `-1.wav`, with a lyrics table whose rows name their folders (and
    formula text in one lyric); `t3` has a row in folder 0 only."""
    root = tmp_path_factory.mktemp("numeric")
    rows = []
    for folder, style in PIPE_GENRES.items():
        for i, name in enumerate(PIPE_NAMES):
            track = generate_track(style, i, languages=("english",), duration=6.0, sr=SR,
                                   instrumental_fraction=0.0, seed=7)
            (root / "music" / folder).mkdir(parents=True, exist_ok=True)
            sf.write(root / "music" / folder / f"{name}.wav", track.audio, SR, subtype="PCM_16")
            if name != "t3" or folder == "0":
                lyric = track.lyrics or "la la"
                rows.append({"filename": f"{folder}/{name}.wav",
                             "lyrics": f"{FORMULA} {lyric}" if name == "=cmd" else lyric})
    pd.DataFrame(rows).to_csv(root / "lyrics.csv", index=False)
    p = copy.deepcopy(tiny_composed)
    p["data"].update(name="folder", root=str(root / "music"), lyrics=str(root / "lyrics.csv"),
                     synthetic=None)
    (root / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    _run_pipeline(root)
    return root


def _run_pipeline(root: Path) -> None:
    """Every stage's ``run`` in-process in ``root`` on its params.yaml (as
    tests/pipeline/conftest.py runs them), the tracking store in ``root``."""
    deterministic = torch.are_deterministic_algorithms_enabled()
    with pytest.MonkeyPatch.context() as mp, contextlib.chdir(root):
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
        try:
            for stage in ("prepare", "extract_audio", "embed_lyrics", "fuse", "train",
                          "cluster", "evaluate"):
                run_inline(stage, "params.yaml")
        finally:
            torch.use_deterministic_algorithms(deterministic)


def test_numeric_genres_run_to_evaluate_and_stay_apart(numeric_pipeline):
    root = numeric_pipeline
    cfg = load_config(root / "params.yaml")
    manifest = load_manifest(root / cfg.paths.manifest)
    assert manifest.groupby("genre").size().to_dict() == {g: 4 for g in PIPE_GENRES}
    metrics = json.loads((root / cfg.paths.eval_metrics).read_text())
    assert metrics["data"]["n_genres"] == 4
    probe = json.loads((root / cfg.paths.probe).read_text())
    assert sorted(map(str, probe["classes"])) == sorted(PIPE_GENRES)


def test_formula_file_names_resolve_after_the_round_trip(numeric_pipeline):
    """manifest.csv holds no cell a spreadsheet would run, yet extraction found every file
    (paths read back exactly) and the formula lyric came back whole."""
    root = numeric_pipeline
    cfg = load_config(root / "params.yaml")
    for table in (cfg.paths.manifest, cfg.paths.rejected, cfg.paths.segments):
        assert _formula_cells(root / table) == [], table
    manifest = load_manifest(root / cfg.paths.manifest).set_index("track_id")
    segments = load_csv(root / cfg.paths.segments)
    assert set(segments["track_id"]) == set(manifest.index)
    assert "001/=cmd" in manifest.index and "0/-1" in manifest.index
    assert Path(manifest.loc["001/=cmd", "path"]).name == "=cmd.wav"
    assert manifest.loc["2/=cmd", "lyrics"].startswith(FORMULA + " ")
    # t3's only row names folder 0: the other folders' t3 get no lyrics
    assert manifest.loc["0/t3", "lyrics"] is not None
    assert [manifest.loc[f"{g}/t3", "lyrics"] for g in ("1", "2", "001")] == [None] * 3


def test_feature_table_with_numeric_labels_runs_to_evaluate(tmp_path, tiny_composed):
    """data=features_table with labels 0, 1, 2 and 001 (read as numbers, they crashed the
    probe: "Unknown label type") runs prepare to evaluate, in-process, four genres apart."""
    labels = ["0", "1", "2", "001"]
    names = [f"{label}x.{i:05d}.wav" for label in labels for i in range(8)]
    table = _feature_table(names, [n.split("x")[0] for n in names])
    table[FEATURES] += np.repeat(np.arange(len(labels)), 8)[:, None]  # genres apart
    table.to_csv(tmp_path / "table.csv", index=False)
    p = copy.deepcopy(tiny_composed)
    p["data"].update(name="features_table", root=str(tmp_path / "table.csv"), synthetic=None)
    p["model"]["input"] = "audio"  # a feature table holds no mel spectrogram and no lyrics
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    _run_pipeline(tmp_path)
    cfg = load_config(tmp_path / "params.yaml")
    assert json.loads((tmp_path / cfg.paths.eval_metrics).read_text())["data"]["n_genres"] == 4
    probe = json.loads((tmp_path / cfg.paths.probe).read_text())
    assert sorted(probe["classes"]) == sorted(labels)
