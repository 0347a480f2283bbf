"""Data source readers (gtzan in both layouts, banglabeats, folder, features_table, several
sources in one run) and the rule that bad input is left out with its reason, never raised."""

from __future__ import annotations

import copy
import os
import re
import shutil
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from genrevae.config import DataConfig, from_dict
from genrevae.data import sources
from genrevae.errors import DataError
from genrevae.features.audio import handcrafted_columns
from genrevae.io import MANIFEST_COLUMNS

SR = 22050
SEED = 7
FEATURES = handcrafted_columns()
COLUMNS = [*MANIFEST_COLUMNS, *sources.EXTRA_COLUMNS]
SPLITS = {"train", "val", "test"}
GTZAN_GENRES = ("blues", "jazz", "rock")
BANGLA_GENRES = ("folk", "rock")
BANGLA_SONGS, BANGLA_CLIPS = 6, 3
FOLDER_EXTS = ("wav", "flac", "ogg", "au") + (("mp3",) if "MP3" in sf.available_formats() else ())


# --- helpers -------------------------------------------------------------------------------


def _clip(path: Path, *, seconds: float = 2.0, silent: bool = False) -> Path:
    """A short tone plus noise, different for every path (so no accidental duplicates)."""
    rng = np.random.default_rng(zlib.crc32(path.as_posix().encode()))
    t = np.arange(round(seconds * SR)) / SR
    y = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 2000) * t) + 0.05 * rng.standard_normal(t.size)
    if silent:
        y = np.zeros_like(y)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y.astype(np.float32), SR)
    return path


def _data_cfg(params: dict, **data) -> DataConfig:
    raw = copy.deepcopy(params)
    raw["data"].update(synthetic=None, **data)
    return from_dict(raw).data


def _build(cfg: DataConfig, tmp: Path, seed: int = SEED) -> sources.Prepared:
    return sources.build_manifest(cfg, seed=seed, corpus_dir=tmp / "corpus", min_seconds=1.0,
                                  feature_columns=FEATURES)


def _assert_groups_pure(manifest: pd.DataFrame) -> None:
    per_group = manifest.groupby("group")["split"].nunique()
    assert (per_group == 1).all(), per_group[per_group > 1]


def _rejections(prepared: sources.Prepared, root: Path) -> dict[str, str]:
    return {Path(p).relative_to(root).as_posix(): r
            for p, r in zip(prepared.rejected["path"], prepared.rejected["reason"], strict=True)}


def _feature_table(names: list[str], labels: list[str], length: int, seed: int) -> pd.DataFrame:
    """A Kaggle-format table: filename, length, the 57 handcrafted columns, label."""
    rng = np.random.default_rng(seed)
    feats = pd.DataFrame(rng.normal(size=(len(names), len(FEATURES))), columns=FEATURES)
    return pd.concat([pd.DataFrame({"filename": names, "length": length}), feats,
                      pd.DataFrame({"label": labels})], axis=1)


# --- generated trees -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> dict[str, Path]:
    """Every generated dataset, written once for the module."""
    base = tmp_path_factory.mktemp("trees")
    out = {"base": base}

    # Kaggle GTZAN: Data/genres_original/<genre>/<genre>.0000N.wav + Data/features_30_sec.csv
    kaggle = base / "kaggle"
    names = []
    for genre in GTZAN_GENRES:
        for i in range(3):
            _clip(kaggle / "Data" / "genres_original" / genre / f"{genre}.{i:05d}.wav")
            names.append(f"{genre}.{i:05d}.wav")
    _feature_table(names, [n.split(".")[0] for n in names], 661794, seed=1).to_csv(
        kaggle / "Data" / "features_30_sec.csv", index=False)
    out["kaggle"] = kaggle

    # The original GTZAN: genres/<genre>/<genre>.0000N.au
    orig = base / "orig"
    for genre in ("blues", "rock"):
        for i in range(3):
            path = orig / "genres" / genre / f"{genre}.{i:05d}.au"
            path.parent.mkdir(parents=True, exist_ok=True)
            _clip(path)
    out["orig"] = orig

    # Any <root>/<genre>/<files> tree, one file per audio format.
    folder = base / "folder"
    for genre in ("pop", "rock"):
        for ext in FOLDER_EXTS:
            _clip(folder / genre / f"take_{ext}.{ext}")
    out["folder"] = folder

    # BanglaBeats 3-s clips: wavs3sec/<genre>/<song>_<clip>.wav
    bangla = base / "bangla"
    for genre in BANGLA_GENRES:
        for song in range(1, BANGLA_SONGS + 1):
            for clip in range(BANGLA_CLIPS):
                _clip(bangla / "wavs3sec" / genre / f"song{song}_{clip}.wav", seconds=1.5)
    out["bangla"] = bangla

    # Good clips and every kind of defect.
    bad = base / "defects"
    for genre in ("blues", "rock"):
        for i in range(3):
            _clip(bad / genre / f"{genre}.{i:05d}.wav")
    good = (bad / "blues" / "blues.00000.wav").read_bytes()
    corrupt = bytearray(good)
    corrupt[:12] = b"\x00" * 12  # RIFF....WAVE overwritten
    (bad / "blues" / "corrupt.wav").write_bytes(bytes(corrupt))
    (bad / "blues" / "zero.wav").write_bytes(b"")
    sf.write(bad / "blues" / "header_only.wav", np.zeros(0, dtype=np.float32), SR)
    (bad / "blues" / "text.wav").write_text("these are not the samples you are looking for\n")
    _clip(bad / "rock" / "silent.wav", silent=True)
    _clip(bad / "rock" / "short.wav", seconds=0.5)
    (bad / "rock" / "notes.txt").write_text("liner notes\n")
    _clip(bad / "rock" / "rock.00003.wav")  # rock keeps 3 tracks, one for each split
    # Float WAVs holding what no recording does (read from disk as float32).
    y = sf.read(_clip(bad / "rock" / "nan.wav"), dtype="float32")[0]
    sf.write(bad / "rock" / "nan.wav", np.where(np.arange(y.size) == 99, np.nan, y), SR,
             subtype="FLOAT")
    sf.write(bad / "rock" / "huge.wav", 1e30 * y[::-1], SR, subtype="FLOAT")
    sf.write(bad / "blues" / "denormal.wav", np.full(2 * SR, 1e-40, dtype=np.float32), SR,
             subtype="FLOAT")
    # A later copy is left out; so is an original whose copy sorts first.
    shutil.copyfile(bad / "blues" / "blues.00001.wav", bad / "rock" / "rock.00009.wav")
    shutil.copyfile(bad / "rock" / "rock.00002.wav", bad / "blues" / "a_dup.wav")
    _clip(bad / "stray.wav")
    (bad / ".DS_Store").write_bytes(b"\x00\x01junk")
    (bad / "rock" / "._rock.00000.wav").write_bytes(b"\x00\x05\x16\x07")
    out["defects"] = bad
    return out


DEFECTS = {
    "blues/corrupt.wav": "undecodable",
    "blues/zero.wav": "empty",
    "blues/header_only.wav": "empty",
    "blues/text.wav": "undecodable",
    "rock/silent.wav": "silent",
    "rock/short.wav": "too_short",
    "rock/notes.txt": "not_audio",
    "rock/nan.wav": "non_finite",
    "rock/huge.wav": "out_of_range",
    "blues/denormal.wav": "silent",
    "rock/rock.00009.wav": "duplicate",
    "rock/rock.00002.wav": "duplicate",
    "stray.wav": "unlabelled",
    ".DS_Store": "hidden",
    "rock/._rock.00000.wav": "hidden",
}


@pytest.fixture(scope="module")
def kaggle_prepared(trees, params) -> sources.Prepared:
    return _build(_data_cfg(params, name="gtzan", root=str(trees["kaggle"] / "Data")),
                  trees["base"])


@pytest.fixture(scope="module")
def bangla_prepared(trees, params) -> sources.Prepared:
    return _build(_data_cfg(params, name="banglabeats", root=str(trees["bangla"]),
                            language="bangla"), trees["base"])


@pytest.fixture(scope="module", params=["folder", "gtzan"])
def defects_prepared(request, trees, params) -> sources.Prepared:
    return _build(_data_cfg(params, name=request.param, root=str(trees["defects"])),
                  trees["base"])


# --- audio readers -------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "tree", "rel"), [
    ("gtzan", "kaggle", "Data"),
    ("gtzan", "orig", "."),
    ("folder", "folder", "."),
    ("banglabeats", "bangla", "."),
])
def test_manifest_columns(trees, params, name, tree, rel):
    """Every audio reader gives the core manifest columns then the extra ones, in order,
    with no missing values outside lyrics."""
    prepared = _build(_data_cfg(params, name=name, root=str(trees[tree] / rel)), trees["base"])
    assert list(prepared.manifest.columns) == COLUMNS
    assert list(prepared.rejected.columns) == list(sources.REJECTED_COLUMNS)
    assert prepared.manifest.drop(columns="lyrics").notna().all().all()
    assert (prepared.manifest["source"] == name).all()


def test_gtzan_track_ids_are_file_stems(kaggle_prepared, trees):
    """GTZAN ids are the file stems (``blues.00000``) and genres the folder names."""
    m = kaggle_prepared.manifest
    expected = {f"{g}.{i:05d}" for g in GTZAN_GENRES for i in range(3)}
    assert set(m["track_id"]) == expected
    assert (m["genre"] == m["track_id"].str.split(".").str[0]).all()
    assert (m["group"] == m["track_id"]).all()
    assert (m["language"] == "unknown").all()
    row = m.set_index("track_id").loc["jazz.00002"]
    assert Path(row["path"]) == trees["kaggle"] / "Data/genres_original/jazz/jazz.00002.wav"
    assert row["duration_s"] == pytest.approx(2.0)
    assert (row["sample_rate"], row["channels"]) == (SR, 1)


def test_kaggle_table_beside_the_audio_is_not_scanned(kaggle_prepared):
    """Pointing at ``Data`` reads ``genres_original`` only: features_30_sec.csv is not a
    rejected file."""
    assert kaggle_prepared.rejected.empty


@pytest.mark.parametrize(("tree", "rel"), [
    ("kaggle", "Data"),
    ("kaggle", "Data/genres_original"),
    ("kaggle", "."),
    ("orig", "."),
    ("orig", "genres"),
])
def test_gtzan_layout_found_from_any_root(trees, params, tree, rel):
    """The Kaggle ``Data`` folder, the folder holding ``genres/`` and the genre folders'
    parent all give the same tracks."""
    prepared = _build(_data_cfg(params, name="gtzan", root=str(trees[tree] / rel)),
                      trees["base"])
    genres = GTZAN_GENRES if tree == "kaggle" else ("blues", "rock")
    assert sorted(prepared.manifest["track_id"]) == sorted(
        f"{g}.{i:05d}" for g in genres for i in range(3))
    assert set(prepared.manifest["genre"]) == set(genres)
    assert prepared.rejected.empty
    ext = ".wav" if tree == "kaggle" else ".au"
    assert prepared.manifest["path"].str.endswith(ext).all()


def test_folder_reads_every_audio_format(trees, params):
    """A ``folder`` tree yields one track per file whatever its format, keyed
    ``<genre>/<stem>``."""
    prepared = _build(_data_cfg(params, name="folder", root=str(trees["folder"])), trees["base"])
    m = prepared.manifest.set_index("track_id")
    assert set(m.index) == {f"{g}/take_{ext}" for g in ("pop", "rock") for ext in FOLDER_EXTS}
    assert prepared.rejected.empty
    for ext in FOLDER_EXTS:
        row = m.loc[f"pop/take_{ext}"]
        assert row["path"].endswith(f".{ext}")
        assert row["genre"] == "pop"
        assert row["duration_s"] == pytest.approx(2.0, abs=0.1)
        assert row["sample_rate"] == SR


def test_banglabeats_clips_of_a_song_share_a_group(bangla_prepared):
    """Each 3-s clip is a row; its group is ``<genre>/<song>``, the same for all clips of a
    song and different for songs of the same name in different genres."""
    m = bangla_prepared.manifest
    assert len(m) == len(BANGLA_GENRES) * BANGLA_SONGS * BANGLA_CLIPS
    song = m["track_id"].str.rsplit("_", n=1).str[0]
    assert (m["group"] == song).all()
    assert m["group"].nunique() == len(BANGLA_GENRES) * BANGLA_SONGS
    assert (m.groupby("group").size() == BANGLA_CLIPS).all()
    assert "folk/song1" in set(m["group"]) and "rock/song1" in set(m["group"])
    assert (m["language"] == "bangla").all()


@pytest.mark.parametrize("which", ["bangla", "kaggle"])
def test_splits_cover_all_and_groups_stay_whole(which, bangla_prepared, kaggle_prepared):
    """Train, val and test are all used, per genre, and no group (song) is in two splits."""
    m = (bangla_prepared if which == "bangla" else kaggle_prepared).manifest
    assert set(m["split"]) == SPLITS
    for _, genre in m.groupby("genre"):
        assert set(genre["split"]) == SPLITS
    _assert_groups_pure(m)


def test_splits_are_fixed_by_the_seed(trees, params):
    """The same seed gives the same manifest, splits included."""
    cfg = _data_cfg(params, name="banglabeats", root=str(trees["bangla"]))
    first, second = _build(cfg, trees["base"]), _build(cfg, trees["base"])
    pd.testing.assert_frame_equal(first.manifest, second.manifest)


# --- defects -------------------------------------------------------------------------------


def test_defects_are_rejected_with_their_reason(defects_prepared, trees):
    """Every bad file is in ``rejected`` with its reason code, hidden files too."""
    assert _rejections(defects_prepared, trees["defects"]) == DEFECTS
    assert defects_prepared.rejected["detail"].str.len().gt(0).all()


@pytest.mark.parametrize(("rel", "reason"), sorted(DEFECTS.items()))
def test_each_defect_leaves_the_manifest(defects_prepared, trees, rel, reason):
    """A rejected file is never a track, and its row names the reader."""
    paths = {Path(p) for p in defects_prepared.manifest["path"]}
    assert trees["defects"] / rel not in paths
    row = defects_prepared.rejected[defects_prepared.rejected["path"].map(Path)
                                    == trees["defects"] / rel]
    assert row["reason"].tolist() == [reason]
    assert row["source"].tolist() == [defects_prepared.manifest["source"].iloc[0]]


def test_duplicates_keep_the_first_in_path_order(defects_prepared):
    """Of identical files the first in sorted path order is kept, and the rejection names
    it."""
    m = defects_prepared.manifest
    kept = {Path(p).relative_to(Path(p).parents[1]).as_posix() for p in m["path"]}
    assert {"blues/blues.00001.wav", "blues/a_dup.wav"} <= kept
    assert len(m) == 7
    dup = defects_prepared.rejected.set_index(
        defects_prepared.rejected["path"].map(lambda p: Path(p).name))["detail"]
    assert dup["rock.00009.wav"].endswith("blues.00001")
    assert dup["rock.00002.wav"].endswith("a_dup")


def test_source_without_usable_file_raises(tmp_path, params):
    """A source whose files are all bad raises DataError naming its path and the reasons."""
    root = tmp_path / "bad source"
    (root / "blues").mkdir(parents=True)
    (root / "blues" / "zero.wav").write_bytes(b"")
    (root / "blues" / "notes.txt").write_text("x")
    with pytest.raises(DataError, match=re.escape(str(root)) + r".*1 empty.*1 not_audio|"
                       + re.escape(str(root)) + r".*1 not_audio.*1 empty"):
        _build(_data_cfg(params, name="folder", root=str(root)), tmp_path)


def _small_tree(root: Path, tracks: dict[str, int], seconds: float = 1.2) -> Path:
    for genre, n in tracks.items():
        for i in range(n):
            _clip(root / genre / f"{genre}_{i}.wav", seconds=seconds)
    return root


@pytest.mark.parametrize("tracks", [
    {"blues": 1, "rock": 1},
    {"blues": 2, "rock": 2, "jazz": 2, "pop": 2},
    {"blues": 9, "rock": 2},
    {"blues": 30},
])
def test_corpus_too_small_to_split_is_refused_saying_what_it_needs(tmp_path, params, tracks):
    """Genres with fewer than 3 tracks never reach val or test: unless two genres have 3,
    prepare refuses, naming the splits short of genres and the tracks per genre."""
    root = _small_tree(tmp_path / "small", tracks)
    with pytest.raises(DataError) as info:
        _build(_data_cfg(params, name="folder", root=str(root)), tmp_path)
    message = str(info.value)
    assert message.startswith("data: too few tracks to split and cluster: genres per split ")
    assert "train, val and test each need at least 2" in message
    assert "at least 3 tracks" in message
    biggest = max(tracks, key=tracks.get)
    assert f"tracks per genre: {biggest} {tracks[biggest]}" in message


def test_smallest_splittable_corpus_is_accepted(tmp_path, params):
    """Two genres of 3 tracks (and a genre of 1, kept in train) give every split both."""
    root = _small_tree(tmp_path / "small", {"blues": 3, "rock": 3, "jazz": 1})
    m = _build(_data_cfg(params, name="folder", root=str(root)), tmp_path).manifest
    assert m.groupby("split")["genre"].nunique().to_dict() == {"test": 2, "train": 3, "val": 2}


def test_empty_source_raises(tmp_path, params):
    """An empty folder is a source with no files."""
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"empty.*no usable track \(no files\)"):
        _build(_data_cfg(params, name="gtzan", root=str(tmp_path / "empty")), tmp_path)


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_root_that_is_not_a_folder_raises(tmp_path, params, kind):
    """A missing root, or a file given as root, raises DataError naming it."""
    root = tmp_path / "nowhere"
    if kind == "file":
        root.write_text("not a folder")
    with pytest.raises(DataError, match=re.escape(str(root)) + ".*not a folder"):
        _build(_data_cfg(params, name="gtzan", root=str(root)), tmp_path)


def test_extra_source_root_missing_raises(trees, params, tmp_path):
    """A missing extra source root is named too."""
    cfg = _data_cfg(params, name="gtzan", root=str(trees["kaggle"]),
                    extra_sources=[{"name": "banglabeats", "root": str(tmp_path / "nope")}])
    with pytest.raises(DataError, match=re.escape(str(tmp_path / "nope"))):
        _build(cfg, tmp_path)


# --- several sources -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_sources(trees, params) -> sources.Prepared:
    cfg = _data_cfg(params, name="gtzan", root=str(trees["kaggle"]), extra_sources=[
        {"name": "banglabeats", "root": str(trees["bangla"]), "language": "bangla"},
        {"name": "folder", "root": str(trees["folder"]), "language": "english"},
    ])
    return _build(cfg, trees["base"])


def test_several_sources_namespace_ids_and_genres(two_sources):
    """Track ids, groups and genres are prefixed by their source; languages come from each
    source."""
    m = two_sources.manifest
    n_bangla = len(BANGLA_GENRES) * BANGLA_SONGS * BANGLA_CLIPS
    assert m["source"].value_counts().to_dict() == {
        "banglabeats": n_bangla, "gtzan": 9, "folder": 2 * len(FOLDER_EXTS)}
    assert (m["track_id"].str.split("/").str[0] == m["source"]).all()
    assert (m["group"].str.split("/").str[0] == m["source"]).all()
    assert (m["genre"].str.split(":").str[0] == m["source"]).all()
    assert "gtzan/blues.00000" in set(m["track_id"])
    assert "banglabeats/folk/song1_0" in set(m["track_id"])
    assert "folder/pop/take_wav" in set(m["track_id"])
    assert {"gtzan:rock", "banglabeats:rock", "folder:rock"} <= set(m["genre"])
    assert m.groupby("source")["language"].unique().map(list).to_dict() == {
        "gtzan": ["unknown"], "banglabeats": ["bangla"], "folder": ["english"]}
    assert m["track_id"].is_unique
    _assert_groups_pure(m)


@pytest.mark.parametrize("genre_map", [
    {"gtzan:rock": "rock", "banglabeats:rock": "rock"},
    {"rock": "rock"},
    {"gtzan:rock": "guitar", "rock": "guitar"},
])
def test_genre_map_merges_genres_of_several_sources(trees, params, genre_map):
    """``genre_map`` merges genres across sources; unmapped ones stay ``<source>:<genre>``."""
    cfg = _data_cfg(params, name="gtzan", root=str(trees["kaggle"]), genre_map=genre_map,
                    extra_sources=[{"name": "banglabeats", "root": str(trees["bangla"])}])
    m = _build(cfg, trees["base"]).manifest
    merged = next(iter(set(genre_map.values())))
    assert set(m.loc[m["track_id"].str.contains("rock"), "genre"]) == {merged}
    assert set(m["genre"]) == {merged, "gtzan:blues", "gtzan:jazz", "banglabeats:folk"}
    _assert_groups_pure(m)


def test_genre_map_applies_to_one_source(trees, params):
    """With one source, genres keep their plain names unless mapped."""
    cfg = _data_cfg(params, name="gtzan", root=str(trees["kaggle"]), genre_map={"jazz": "swing"})
    m = _build(cfg, trees["base"]).manifest
    assert set(m["genre"]) == {"blues", "swing", "rock"}
    assert not m["track_id"].str.contains("/").any()


def test_duplicate_across_sources_is_rejected(tmp_path, params, trees):
    """A byte copy found in a second source is rejected, the main source's file kept."""
    extra = tmp_path / "extra"
    (extra / "blues").mkdir(parents=True)
    shutil.copyfile(trees["kaggle"] / "Data/genres_original/blues/blues.00000.wav",
                    extra / "blues" / "copy.wav")
    _clip(extra / "blues" / "own.wav")
    cfg = _data_cfg(params, name="gtzan", root=str(trees["kaggle"]),
                    extra_sources=[{"name": "folder", "root": str(extra)}])
    prepared = _build(cfg, tmp_path)
    assert "gtzan/blues.00000" in set(prepared.manifest["track_id"])
    assert "folder/blues/own" in set(prepared.manifest["track_id"])
    assert prepared.rejected[["reason", "source"]].values.tolist() == [["duplicate", "folder"]]
    assert Path(prepared.rejected["path"].iloc[0]) == extra / "blues" / "copy.wav"


# --- symbolic links, hidden and odd entries ------------------------------------------------


@pytest.fixture
def link_tree(tmp_path) -> tuple[Path, Path]:
    """A folder source with every kind of link and odd entry, beside an outside folder."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    for genre in ("blues", "rock"):
        for i in range(3):
            _clip(root / genre / f"{genre}.{i}.wav")
    for i in range(3):
        _clip(outside / "pop_tracks" / f"pop.{i}.wav")
    _clip(outside / "lone.wav")
    (root / "pop").symlink_to(outside / "pop_tracks")  # a genre that lives elsewhere
    (root / "alias").symlink_to(root / "rock")  # sorts before rock: rock still owns its files
    (root / "rock" / "linked.wav").symlink_to(outside / "lone.wav")
    (root / "rock" / "gone.wav").symlink_to(tmp_path / "nowhere.wav")
    (root / "ghost").symlink_to(tmp_path / "no_folder")
    (root / "rock" / "again").symlink_to(root)  # a loop
    (root / "blues" / "self.wav").symlink_to(root / "blues" / "self.wav")
    (root / ".cache").mkdir()
    _clip(root / ".cache" / "blues.9.wav")
    (root / "empty").mkdir()
    os.mkfifo(root / "rock" / "pipe.wav")
    return root, outside


LINK_REASONS = {
    "alias": "linked_twice",
    "rock/gone.wav": "broken_link",
    "ghost": "broken_link",
    "rock/again": "link_loop",
    "blues/self.wav": "link_loop",
    ".cache": "hidden",
    "empty": "empty_folder",
    "rock/pipe.wav": "not_a_file",
}


def test_links_are_followed_once_and_every_entry_is_accounted_for(link_tree, params, caplog):
    root, _ = link_tree
    with caplog.at_level("INFO", logger="genrevae.data.sources"):
        prepared = _build(_data_cfg(params, name="folder", root=str(root)), root.parent)
    m = prepared.manifest
    assert _rejections(prepared, root) == LINK_REASONS
    used = {Path(p).relative_to(root).as_posix(): g for p, g in zip(m["path"], m["genre"],
                                                                      strict=True)}
    assert used == {**{f"{g}/{g}.{i}.wav": g for g in ("blues", "rock") for i in range(3)},
                    **{f"pop/pop.{i}.wav": "pop" for i in range(3)}, "rock/linked.wav": "rock"}
    listed = {root / p for p in [*used, *LINK_REASONS]}
    for entry in _every_entry(root):
        assert entry in listed or any(entry in p.parents for p in listed) or \
            any(p in entry.parents for p in listed if LINK_REASONS.get(
                p.relative_to(root).as_posix()) == "hidden"), f"{entry} is not accounted for"
    (summary,) = [r.getMessage() for r in caplog.records if "files used" in r.getMessage()]
    assert summary.startswith("folder: 10 files used, 8 left out: ")
    assert summary.endswith(f"(5 folders read under {root})")  # root, blues, rock, pop, empty
    counts = pd.Series(list(LINK_REASONS.values())).value_counts()
    assert all(f"{n} {reason}" in summary for reason, n in counts.items())


def _every_entry(root: Path) -> list[Path]:
    """Every file, folder and link under ``root`` without following links."""
    out = []
    for folder, dirs, files in os.walk(root):
        out += [Path(folder) / name for name in [*dirs, *files]]
    return out


def test_two_links_to_one_outside_folder_read_it_once(tmp_path, params):
    root = tmp_path / "root"
    for genre in ("blues", "rock"):
        for i in range(3):
            _clip(tmp_path / "store" / genre / f"{i}.wav")
    (root).mkdir()
    (root / "blues").symlink_to(tmp_path / "store" / "blues")
    (root / "rock").symlink_to(tmp_path / "store" / "rock")
    (root / "rock_again").symlink_to(tmp_path / "store" / "rock")
    prepared = _build(_data_cfg(params, name="folder", root=str(root)), tmp_path)
    assert sorted(prepared.manifest["genre"].value_counts().items()) == [("blues", 3), ("rock", 3)]
    assert _rejections(prepared, root) == {"rock_again": "linked_twice"}
    assert prepared.rejected["detail"].tolist() == [f"links to {root / 'rock'}, read there"]


def test_walk_tree_of_a_loop_only_terminates(tmp_path):
    """A tree made only of links to itself ends, listing each link."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "a").symlink_to(root)
    (root / "b").symlink_to(root / "a")
    walk = sources.walk_tree(root)
    assert walk.files == []
    assert sorted((p.name, r) for p, r, _ in walk.left_out) == [("a", "link_loop"),
                                                                ("b", "link_loop")]


# --- feature tables ------------------------------------------------------------------------


def _table_cfg(params: dict, path: Path) -> DataConfig:
    return _data_cfg(params, name="features_table", root=str(path))


@pytest.fixture(scope="module")
def table_3sec(trees) -> tuple[Path, pd.DataFrame]:
    """features_3_sec style: 6 tracks x 10 segments, rows shuffled."""
    names = [f"{g}.{i:05d}.{s}.wav" for g in ("blues", "rock") for i in range(3) for s in range(10)]
    frame = _feature_table(names, [n.split(".")[0] for n in names], 66149, seed=3)
    frame = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    path = trees["base"] / "features_3_sec.csv"
    frame.to_csv(path, index=False)
    return path, frame


def test_features_table_30_sec_gives_one_row_per_track(trees, params):
    """The Kaggle 30-s table: one manifest row and one table row per track, ids without
    extension, lengths turned into seconds."""
    path = trees["kaggle"] / "Data" / "features_30_sec.csv"
    raw = pd.read_csv(path)
    prepared = _build(_table_cfg(params, path), trees["base"])
    m = prepared.manifest
    assert list(m.columns) == COLUMNS
    assert m["track_id"].tolist() == raw["filename"].str.removesuffix(".wav").tolist()
    assert m["genre"].tolist() == raw["label"].tolist()
    assert (m["source"] == "features_table").all()
    assert (m["path"].map(Path) == path).all()
    assert m["duration_s"].to_numpy() == pytest.approx(661794 / 22050)
    assert prepared.rejected.empty
    table = prepared.table
    assert list(table.columns) == ["track_id", "segment_index", *FEATURES]
    assert (table["segment_index"] == 0).all()
    np.testing.assert_allclose(table[FEATURES].to_numpy(), raw[FEATURES].to_numpy())
    assert set(m["split"]) == SPLITS
    _assert_groups_pure(m)


def test_features_table_3_sec_groups_segments_into_tracks(table_3sec, trees, params):
    """``blues.00000.3.wav`` is segment 3 of track ``blues.00000``; a track's segments all
    land in its split and its duration is the sum of theirs."""
    path, frame = table_3sec
    prepared = _build(_table_cfg(params, path), trees["base"])
    m = prepared.manifest.set_index("track_id")
    assert sorted(m.index) == sorted(f"{g}.{i:05d}" for g in ("blues", "rock") for i in range(3))
    assert m["duration_s"].to_numpy() == pytest.approx(10 * 66149 / 22050)
    table = prepared.table
    assert len(table) == 60
    for _, segments in table.groupby("track_id"):
        assert sorted(segments["segment_index"]) == list(range(10))
    got = table.set_index(["track_id", "segment_index"]).loc[("rock.00001", 7), FEATURES]
    want = frame.set_index("filename").loc["rock.00001.7.wav", FEATURES]
    np.testing.assert_allclose(got.to_numpy(dtype=float), want.to_numpy(dtype=float))


def _defective_table(tmp: Path, edit) -> tuple[Path, pd.DataFrame]:
    names = [f"{g}.{i:05d}.wav" for g in ("blues", "rock") for i in range(4)]
    frame = _feature_table(names, [n.split(".")[0] for n in names], 661794, seed=5)
    frame = frame.astype({c: object for c in [*FEATURES, "label"]})
    edit(frame)
    path = tmp / "table.csv"
    frame.to_csv(path, index=False)
    return path, frame


@pytest.mark.parametrize("value", ["", "abc", "inf", "-inf", "nan"])
def test_features_table_invalid_values_are_rejected(tmp_path, params, value):
    """A row with a missing or non-numeric feature value is ``invalid_features``."""

    def edit(frame):
        frame.loc[2, "tempo"] = value

    path, _ = _defective_table(tmp_path, edit)
    prepared = _build(_table_cfg(params, path), tmp_path)
    assert prepared.rejected[["path", "reason"]].values.tolist() == [
        ["blues.00002.wav", "invalid_features"]]
    assert "blues.00002" not in set(prepared.manifest["track_id"])
    assert len(prepared.manifest) == 7


@pytest.mark.parametrize("label", [
    "   ",
    "",
])
def test_features_table_unlabelled_rows_are_rejected(tmp_path, params, label):
    """A row with no label is ``unlabelled``."""

    def edit(frame):
        frame.loc[5, "label"] = label

    path, _ = _defective_table(tmp_path, edit)
    prepared = _build(_table_cfg(params, path), tmp_path)
    assert prepared.rejected[["path", "reason"]].values.tolist() == [
        ["rock.00001.wav", "unlabelled"]]
    assert len(prepared.manifest) == 7


def test_features_table_duplicate_rows_are_rejected(tmp_path, params):
    """A row with the same feature values as an earlier one is ``duplicate``; the first is
    kept."""

    def edit(frame):
        frame.loc[6, FEATURES] = frame.loc[1, FEATURES].to_numpy()

    path, _ = _defective_table(tmp_path, edit)
    prepared = _build(_table_cfg(params, path), tmp_path)
    assert prepared.rejected[["path", "reason"]].values.tolist() == [
        ["rock.00002.wav", "duplicate"]]
    assert "blues.00001" in set(prepared.manifest["track_id"])


def test_features_table_duplicate_of_a_rejected_row_is_kept(tmp_path, params):
    """A labelled row is not a duplicate of an earlier row that was itself left out."""

    def edit(frame):
        frame.loc[0, "label"] = " "
        frame.loc[6, FEATURES] = frame.loc[0, FEATURES].to_numpy()

    path, _ = _defective_table(tmp_path, edit)
    prepared = _build(_table_cfg(params, path), tmp_path)
    assert prepared.rejected["reason"].tolist() == ["unlabelled"]
    assert "rock.00002" in set(prepared.manifest["track_id"])


@pytest.mark.parametrize("column", ["tempo", "mfcc20_var", "chroma_stft_mean", "label",
                                    "filename"])
def test_features_table_missing_column_raises(tmp_path, params, column):
    """A table without a needed column raises DataError naming the column."""
    path, frame = _defective_table(tmp_path, lambda f: None)
    frame.drop(columns=column).to_csv(path, index=False)
    with pytest.raises(DataError, match=rf"missing columns \['{column}'\]"):
        _build(_table_cfg(params, path), tmp_path)


def test_features_table_not_found_raises(tmp_path, params):
    """A missing table raises DataError naming it."""
    path = tmp_path / "no_such.csv"
    with pytest.raises(DataError, match=re.escape(str(path)) + ".*not found"):
        _build(_table_cfg(params, path), tmp_path)


def test_features_table_without_usable_row_raises(tmp_path, params):
    """A table whose every row is bad raises DataError with the reasons."""

    def edit(frame):
        frame.loc[:, "tempo"] = "x"

    path, _ = _defective_table(tmp_path, edit)
    with pytest.raises(DataError, match=r"no usable row \(8 invalid_features\)"):
        _build(_table_cfg(params, path), tmp_path)


# --- the real data -------------------------------------------------------------------------


def test_shared_gtzan_sample(shared_data, params, tmp_path):
    """The GTZAN sample (14 WAV + 1 MP3, 10 genres) is read whole, nothing rejected."""
    root = shared_data / "gtzan_sample"
    prepared = _build(_data_cfg(params, name="gtzan", root=str(root)), tmp_path)
    m = prepared.manifest
    assert len(m) == 15
    assert m["genre"].nunique() == 10
    assert prepared.rejected.empty
    assert m["path"].str.endswith(".wav").sum() == 14
    assert m.set_index("track_id").loc["blues.00099", "path"].endswith(".mp3")
    assert m["duration_s"].between(29.0, 31.0).all()
    assert (m["sample_rate"] == 22050).all()
    _assert_groups_pure(m)


def test_shared_kaggle_feature_table(shared_data, params, tmp_path):
    """The Kaggle 30-s table: 1000 rows in 10 genres; its 14 exact duplicate rows (known
    GTZAN duplicates such as disco.00098/00099) are left out, 986 tracks remain."""
    path = shared_data / "gtzan_features_30_sec.csv"
    prepared = _build(_table_cfg(params, path), tmp_path)
    m = prepared.manifest
    assert len(m) + len(prepared.rejected) == 1000
    assert len(m) == 986
    assert set(prepared.rejected["reason"]) == {"duplicate"}
    assert "disco.00099.wav" in set(prepared.rejected["path"])
    assert "disco.00098" in set(m["track_id"])
    assert m["genre"].nunique() == 10
    assert m["track_id"].is_unique
    assert m["duration_s"].between(29.0, 31.0).all()
    raw = pd.read_csv(path).set_index("filename")
    got = prepared.table.set_index("track_id").loc["blues.00000", FEATURES]
    np.testing.assert_allclose(got.to_numpy(dtype=float),
                               raw.loc["blues.00000.wav", FEATURES].to_numpy(dtype=float))
