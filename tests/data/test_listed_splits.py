"""Listed splits (data.split: a shipped name or a folder of lists) and metadata tables
(data.metadata): what is kept, what is left out with its reason, and what is refused."""

from __future__ import annotations

import copy
import logging
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from genrevae.config import DataConfig, from_dict
from genrevae.data import sources
from genrevae.data.split_lists import NAMED_DIR, NAMED_SPLITS, list_folder
from genrevae.data.splits import apply_split_lists, read_split_lists
from genrevae.errors import ConfigError, DataError
from genrevae.features.audio import handcrafted_columns

SR = 8000
FEATURES = handcrafted_columns()
GTZAN = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae",
         "rock")


def _cfg(params: dict, **data) -> DataConfig:
    raw = copy.deepcopy(params)
    raw["data"].update(synthetic=None, **data)
    return from_dict(raw).data


def _build(cfg: DataConfig, tmp: Path) -> sources.Prepared:
    return sources.build_manifest(cfg, seed=3, corpus_dir=tmp / "corpus", min_seconds=0.5,
                                  feature_columns=FEATURES)


def _clip(path: Path) -> Path:
    rng = np.random.default_rng(zlib.crc32(path.as_posix().encode()))
    t = np.arange(SR) / SR
    y = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 2000) * t) + 0.05 * rng.standard_normal(t.size)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y.astype(np.float32), SR)
    return path


def _tree(root: Path, genres=("a", "b", "c"), per_genre: int = 6) -> Path:
    for g in genres:
        for i in range(per_genre):
            _clip(root / g / f"{g}{i}.wav")
    return root


def _lists(folder: Path, **lists: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, lines in lists.items():
        (folder / f"{name}.txt").write_text("".join(f"{line}\n" for line in lines))
    return folder


def _split_of(prepared: sources.Prepared) -> dict[str, str]:
    return dict(zip(prepared.manifest["track_id"], prepared.manifest["split"], strict=True))


# --- reading lists -------------------------------------------------------------------------


def test_lists_skip_blank_and_comment_lines_and_accept_valid_txt(tmp_path):
    folder = _lists(tmp_path / "s", train=["# a comment", "", "a/a0.wav", " A/A1.WAV "],
                    valid=["b/b0"], test=["c0"])
    lists = read_split_lists(str(folder))
    assert lists.entries == {"train": ["a/a0", "a/a1"], "val": ["b/b0"], "test": ["c0"]}
    assert lists.origin["a/a1"] == "train.txt:4"


def test_a_track_listed_twice_is_refused_naming_both_lines(tmp_path):
    folder = _lists(tmp_path / "s", train=["a/a0.wav"], val=["x", "a/a0.wav"], test=["y"])
    with pytest.raises(DataError, match=r"val.txt: line 2 lists 'a/a0.wav', already listed at "
                                        r"train.txt:1"):
        read_split_lists(str(folder))


def test_a_list_that_is_not_utf8_is_refused_naming_its_line(tmp_path):
    """A list saved in Latin-1 (an accented path): one DataError naming the file and line."""
    folder = _lists(tmp_path / "s", train=["a/a0"], val=["b/b0"], test=["c/c0"])
    (folder / "test.txt").write_bytes("c/c0\nc/Motörhead.wav\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"test\.txt: line 2 is not UTF-8 text \(byte 0xf6\)"):
        read_split_lists(str(folder))


def test_a_folder_without_one_of_the_lists_is_refused(tmp_path):
    folder = _lists(tmp_path / "s", train=["a"], test=["b"])
    with pytest.raises(FileNotFoundError, match=r"val\.txt or valid\.txt"):
        list_folder(str(folder))


@pytest.mark.parametrize("split, message", [
    ("nowhere", "data.split: 'nowhere' is neither random"),
    ("", "data.split: must be random"),
])
def test_config_refuses_an_unknown_split_in_one_line(params, split, message):
    with pytest.raises(ConfigError, match=message) as info:
        _cfg(params, name="folder", root="x", split=split)
    assert "\n" not in str(info.value)


def test_config_refuses_a_list_for_the_embedded_corpus(params):
    raw = copy.deepcopy(params)
    raw["data"]["split"] = "gtzan_fault_filtered"
    with pytest.raises(ConfigError, match=r"data\.split: the embedded corpus is split at random"):
        from_dict(raw)


def test_the_shipped_split_is_the_published_one():
    assert "gtzan_fault_filtered" in NAMED_SPLITS
    lists = read_split_lists("gtzan_fault_filtered")
    assert {k: len(v) for k, v in lists.entries.items()} == {"train": 443, "val": 197,
                                                             "test": 290}
    assert "Kereliuk" in (NAMED_DIR / "gtzan_fault_filtered" / "SOURCE.md").read_text()


def test_an_entry_matches_a_full_key_or_a_unique_file_name(tmp_path):
    folder = _lists(tmp_path / "s", train=["a/x"], val=["y"], test=["z"])
    applied = apply_split_lists(read_split_lists(str(folder)),
                                [("a/x", "x"), ("b/y", "y"), ("c/z", "z"), ("d/x", "x")])
    assert applied.splits == ["train", "val", "test", None]


def test_a_file_name_shared_by_two_tracks_is_refused_as_ambiguous(tmp_path):
    folder = _lists(tmp_path / "s", train=["x"], val=["a/y"], test=["b/z"])
    with pytest.raises(DataError, match=r"train.txt:1 \(x\) names 2 tracks; give its path"):
        apply_split_lists(read_split_lists(str(folder)),
                          [("a/x", "x"), ("b/x", "x"), ("a/y", "y"), ("b/z", "z")])


def test_an_entry_naming_nothing_is_refused(tmp_path):
    folder = _lists(tmp_path / "s", train=["a/x", "q"], val=["a/y"], test=["b/z"])
    with pytest.raises(DataError, match=r"1 listed track\(s\) not found in the data, e\.g\. q "
                                        r"\(train.txt:2\)"):
        apply_split_lists(read_split_lists(str(folder)), [("a/x", "x"), ("a/y",), ("b/z",)])


# --- a split folder on an audio tree -------------------------------------------------------


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return _tree(tmp_path_factory.mktemp("music"))


def _folder_lists(tmp: Path) -> Path:
    # Paths as written by hand: with and without extension, an id, any case.
    return _lists(tmp / "lists",
                  train=["a/a0.wav", "a/a1", "b/b0.wav", "b/b1.wav", "c/C0.WAV", "c1"],
                  val=["a/a2.wav", "b/b2.wav", "c/c2.wav"],
                  test=["a/a3.wav", "b/b3.wav", "c/c3.wav"])


def test_a_split_folder_assigns_exactly_the_listed_tracks(tree, tmp_path, params):
    prepared = _build(_cfg(params, name="folder", root=str(tree),
                           split=str(_folder_lists(tmp_path))), tmp_path)
    split = _split_of(prepared)
    assert split == {"a/a0": "train", "a/a1": "train", "b/b0": "train", "b/b1": "train",
                     "c/c0": "train", "c/c1": "train", "a/a2": "val", "b/b2": "val",
                     "c/c2": "val", "a/a3": "test", "b/b3": "test", "c/c3": "test"}


def test_tracks_in_no_list_are_left_out_with_their_reason(tree, tmp_path, params):
    prepared = _build(_cfg(params, name="folder", root=str(tree),
                           split=str(_folder_lists(tmp_path))), tmp_path)
    rejected = prepared.rejected.set_index(prepared.rejected["path"].map(lambda p: Path(p).stem))
    unlisted = {f"{g}{i}" for g in "abc" for i in (4, 5)}
    assert set(rejected.index) == unlisted
    assert set(rejected["reason"]) == {"not_in_split"}
    assert rejected["detail"].str.contains(f"data.split={tmp_path / 'lists'}").all()


def test_the_seed_does_not_move_a_listed_split(tree, tmp_path, params):
    cfg = _cfg(params, name="folder", root=str(tree), split=str(_folder_lists(tmp_path)))
    splits = [_split_of(sources.build_manifest(cfg, seed=seed, corpus_dir=tmp_path / "c",
                                               min_seconds=0.5, feature_columns=FEATURES))
              for seed in (0, 1, 2)]
    assert splits[0] == splits[1] == splits[2]


def test_a_listed_track_that_does_not_exist_is_an_error_naming_it(tree, tmp_path, params):
    folder = _lists(tmp_path / "lists", train=["a/a0.wav", "b/b0.wav", "c/c0.wav", "a/a9.wav"],
                    val=["a/a2.wav", "b/b2.wav"], test=["a/a3.wav", "b/b3.wav"])
    with pytest.raises(DataError, match=r"a/a9 \(train.txt:4\)"):
        _build(_cfg(params, name="folder", root=str(tree), split=str(folder)), tmp_path)


def test_a_listed_track_left_out_as_undecodable_is_reported_not_refused(tmp_path, params,
                                                                       caplog):
    root = _tree(tmp_path / "music")
    (root / "a" / "a1.wav").write_bytes(b"RIFF\x00\x00not really audio")
    with caplog.at_level(logging.WARNING):
        prepared = _build(_cfg(params, name="folder", root=str(root),
                               split=str(_folder_lists(tmp_path))), tmp_path)
    assert "a/a1" not in _split_of(prepared)
    reasons = dict(zip(prepared.rejected["path"].map(lambda p: Path(p).stem),
                       prepared.rejected["reason"], strict=True))
    assert reasons["a1"] not in ("not_in_split",)
    assert "1 listed tracks were left out earlier: a/a1" in caplog.text


def test_a_split_list_applies_to_the_main_source_only(tree, tmp_path, params):
    extra = _tree(tmp_path / "extra", genres=("x", "y"), per_genre=6)
    cfg = _cfg(params, name="folder", root=str(tree), split=str(_folder_lists(tmp_path)),
               extra_sources=[{"name": "folder", "root": str(extra)}])
    m = _build(cfg, tmp_path).manifest
    main = m[m["path"].str.startswith(str(tree))]
    assert len(main) == 12  # the 6 unlisted tracks of the main source are left out
    assert dict(zip(main["track_id"].str.removeprefix("folder/"), main["split"],
                    strict=True)) == _split_of(_build(_cfg(
                        params, name="folder", root=str(tree),
                        split=str(_folder_lists(tmp_path))), tmp_path))
    rest = m[~m["path"].str.startswith(str(tree))]
    assert len(rest) == 12 and set(rest["split"]) == {"train", "val", "test"}


def test_a_named_split_on_a_partial_copy_is_refused(tmp_path, params):
    root = tmp_path / "gtzan" / "genres_original"
    for g in ("blues", "jazz", "rock"):
        for i in range(3):
            _clip(root / g / f"{g}.{i:05d}.wav")
    with pytest.raises(DataError, match=r"listed track\(s\) not found in the data.*complete "
                                        r"copy"):
        _build(_cfg(params, name="gtzan", root=str(tmp_path / "gtzan"),
                    split="gtzan_fault_filtered"), tmp_path)


# --- the named split on a Kaggle-format table ----------------------------------------------


def _gtzan_table(path: Path, *, twins: tuple[str, str] | None = None) -> Path:
    names = [f"{g}.{i:05d}.wav" for g in GTZAN for i in range(100)]
    rng = np.random.default_rng(0)
    feats = pd.DataFrame(rng.normal(size=(len(names), len(FEATURES))), columns=FEATURES)
    if twins:
        feats.iloc[names.index(twins[1])] = feats.iloc[names.index(twins[0])]
    table = pd.concat([pd.DataFrame({"filename": names, "length": 661794}), feats,
                       pd.DataFrame({"label": [n.split(".")[0] for n in names]})], axis=1)
    table.to_csv(path, index=False)
    return path


def test_the_fault_filtered_split_on_a_gtzan_table(tmp_path, params):
    table = _gtzan_table(tmp_path / "features_30_sec.csv")
    prepared = _build(_cfg(params, name="features_table", root=str(table),
                           split="gtzan_fault_filtered"), tmp_path)
    m = prepared.manifest
    assert m["split"].value_counts().to_dict() == {"train": 443, "test": 290, "val": 197}
    assert (prepared.rejected["reason"] == "not_in_split").sum() == 70
    lists = read_split_lists("gtzan_fault_filtered")
    assert set(m.loc[m["split"] == "test", "track_id"]) == {e.split("/")[-1]
                                                           for e in lists.entries["test"]}
    assert set(prepared.table["track_id"]) == set(m["track_id"])


def test_of_two_identical_rows_the_listed_one_is_kept(tmp_path, params):
    # pop.00054 is in no list, pop.00060 (its copy in the Kaggle table) is in val.
    table = _gtzan_table(tmp_path / "t.csv", twins=("pop.00054.wav", "pop.00060.wav"))
    prepared = _build(_cfg(params, name="features_table", root=str(table),
                           split="gtzan_fault_filtered"), tmp_path)
    assert _split_of(prepared)["pop.00060"] == "val"
    reasons = dict(zip(prepared.rejected["path"], prepared.rejected["reason"], strict=True))
    assert reasons["pop.00054.wav"] == "duplicate"
    random = _build(_cfg(params, name="features_table", root=str(table)), tmp_path)
    assert "pop.00060" not in _split_of(random)  # without a list, the first copy stays


# --- metadata tables -----------------------------------------------------------------------


def _metadata(path: Path, rows: list[dict]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_metadata_artists_never_straddle_splits(tmp_path, params):
    root = _tree(tmp_path / "music", genres=("a", "b", "c"), per_genre=12)
    rows = [{"track": f"{g}{i}", "artist": f"Artist {g}{i // 3}"} for g in "abc"
            for i in range(12)]
    meta = _metadata(tmp_path / "meta.csv", rows)
    for seed in range(4):
        m = sources.build_manifest(_cfg(params, name="folder", root=str(root),
                                        metadata=str(meta)),
                                   seed=seed, corpus_dir=tmp_path / "c", min_seconds=0.5,
                                   feature_columns=FEATURES).manifest
        per_artist = m.groupby("artist")["split"].nunique()
        assert len(per_artist) == 12 and (per_artist == 1).all()
        assert set(m["split"]) == {"train", "val", "test"}


def test_metadata_sets_language_and_keeps_its_other_columns(tree, tmp_path, params):
    rows = [{"filename": f"{g}/{g}{i}.wav", "language": "DE" if i % 2 else "en",
             "genre": "something else", "year": str(1990 + i)}
            for g in "abc" for i in range(6)]
    meta = _metadata(tmp_path / "meta.csv", rows)
    m = _build(_cfg(params, name="folder", root=str(tree), metadata=str(meta)),
               tmp_path).manifest.set_index("track_id")
    assert m.loc["a/a1", "language"] == "de" and m.loc["a/a0", "language"] == "en"
    assert m.loc["b/b3", "year"] == "1993"
    # A table never renames a track's genre: its own `genre` column is kept beside it.
    assert m.loc["b/b3", "genre"] == "b" and m.loc["b/b3", "meta_genre"] == "something else"
    assert list(m.reset_index().columns[:12]) == [*sources.MANIFEST_COLUMNS,
                                                  *sources.EXTRA_COLUMNS]


def test_metadata_without_an_id_column_is_refused(tree, tmp_path, params):
    meta = _metadata(tmp_path / "meta.csv", [{"name": "a0", "artist": "x"}])
    with pytest.raises(DataError, match=r"meta\.csv: needs an id column"):
        _build(_cfg(params, name="folder", root=str(tree), metadata=str(meta)), tmp_path)


def test_a_list_that_splits_an_artist_is_reported(tree, tmp_path, params, caplog):
    rows = [{"track_id": f"{g}/{g}{i}", "artist": "same" if i in (0, 3) else f"{g}{i}"}
            for g in "abc" for i in range(6)]
    meta = _metadata(tmp_path / "meta.csv", rows)
    with caplog.at_level(logging.WARNING):
        _build(_cfg(params, name="folder", root=str(tree), metadata=str(meta),
                    split=str(_folder_lists(tmp_path))), tmp_path)
    assert "1 artists have tracks in more than one split: same (train/test)" in caplog.text


def test_shared_gtzan_table_on_the_fault_filtered_split(shared_data, params, tmp_path):
    prepared = _build(_cfg(params, name="features_table",
                           root=str(shared_data / "gtzan_features_30_sec.csv"),
                           split="gtzan_fault_filtered",
                           metadata=str(shared_data / "gtzan_artists.csv")), tmp_path)
    m = prepared.manifest
    # The published sizes, although the Kaggle table holds 14 of the listed excerpts twice.
    assert m["split"].value_counts().to_dict() == {"train": 443, "test": 290, "val": 197}
    assert prepared.rejected["reason"].value_counts().to_dict() == {"not_in_split": 56,
                                                                    "duplicate": 14}
    assert m["artist"].notna().sum() >= 900


def test_gtzan_and_banglabeats_a_list_splits_the_gtzan_part(tmp_path, params):
    gtzan = tmp_path / "gtzan" / "Data" / "genres_original"
    for g in ("blues", "jazz", "rock"):
        for i in range(4):
            _clip(gtzan / g / f"{g}.{i:05d}.wav")
    bangla = tmp_path / "bangla" / "wavs3sec"
    for g in ("folk", "rock"):
        for n in range(1, 31):  # three songs of ten numbered clips
            _clip(bangla / g / f"{n}.wav")
    names = {s: [f"{g}/{g}.{i:05d}.wav" for g in ("blues", "jazz", "rock") for i in idx]
             for s, idx in (("train", (0, 1)), ("val", (2,)), ("test", (3,)))}
    lists = _lists(tmp_path / "lists", **names)
    cfg = _cfg(params, name="gtzan", root=str(tmp_path / "gtzan"), split=str(lists),
               extra_sources=[{"name": "banglabeats", "root": str(tmp_path / "bangla"),
                               "language": "bangla"}])
    m = _build(cfg, tmp_path).manifest
    listed = m[m["source"] == "gtzan"].set_index("track_id")["split"]
    assert listed.to_dict() == {f"gtzan/{n.split('/')[1][:-4]}": s
                                for s, ns in names.items() for n in ns}
    clips = m[m["source"] == "banglabeats"]
    assert len(clips) == 60 and set(clips["split"]) == {"train", "val", "test"}
    assert (clips.groupby("group")["split"].nunique() == 1).all()  # songs stay whole
