"""Lyrics tables as users have them (CSV/TSV, BOM or not, multi-line fields, varied id
columns) and their join to tracks: full key, unique stem, language and artist."""

from __future__ import annotations

import copy
import re
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from genrevae.config import from_dict
from genrevae.data import sources
from genrevae.data.lyrics import ID_COLUMNS, join_lyrics, normalise_key, read_lyrics_table
from genrevae.errors import DataError
from genrevae.features.audio import handcrafted_columns

SR = 22050
BENGALI = re.compile("[\u0980-\u09ff]")


def _write(path: Path, header: list[str], rows: list[list[str]], *, sep: str = ",",
           bom: bool = False) -> Path:
    """Write a table by hand: fields quoted, embedded quotes doubled, newlines kept."""

    def cell(value: str) -> str:
        return '"' + value.replace('"', '""') + '"'

    lines = [sep.join(header)] + [sep.join(cell(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8-sig" if bom else "utf-8")
    return path


def _clip(path: Path, seconds: float = 2.0) -> None:
    rng = np.random.default_rng(zlib.crc32(path.as_posix().encode()))
    t = np.arange(round(seconds * SR)) / SR
    y = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 2000) * t) + 0.05 * rng.standard_normal(t.size)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y.astype(np.float32), SR)


MULTILINE = 'first line, with a comma\nsecond "quoted" line\n\nafter a blank line'


# --- reading -------------------------------------------------------------------------------


@pytest.mark.parametrize("bom", [False, True], ids=["plain", "bom"])
@pytest.mark.parametrize(("ext", "sep"), [(".csv", ","), (".tsv", "\t"), (".tab", "\t")])
def test_reads_csv_and_tsv_with_or_without_bom(tmp_path, ext, sep, bom):
    """Both separators and both UTF-8 flavours give the same frame; the BOM is not part of
    the first column's name, and quoted multi-line fields survive intact."""
    path = _write(tmp_path / f"lyrics{ext}", ["filename", "lyrics"],
                  [["bangla/song_1.mp3", "আমার সোনার বাংলা"], ["english/song_2.mp3", MULTILINE]],
                  sep=sep, bom=bom)
    if bom:
        assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    table = read_lyrics_table(path)
    assert list(table.columns) == ["key", "lyrics"]
    assert table["key"].tolist() == ["bangla/song_1", "english/song_2"]
    assert table["lyrics"].tolist() == ["আমার সোনার বাংলা", MULTILINE]


@pytest.mark.parametrize("bom", [False, True], ids=["plain", "bom"])
def test_bom_does_not_hide_the_id_column(tmp_path, bom):
    """With a BOM before ``track_id`` (the first column), it is still found as the id."""
    path = _write(tmp_path / "t.csv", ["track_id", "language", "lyrics"],
                  [["blues.00000", "English", "la la"]], bom=bom)
    table = read_lyrics_table(path)
    assert not any("\ufeff" in c for c in table.columns)
    assert table.to_dict("records") == [{"key": "blues.00000", "lyrics": "la la",
                                         "language": "english"}]


@pytest.mark.parametrize("id_col", [*ID_COLUMNS, "Filename", " FILE ", "Track_ID"])
@pytest.mark.parametrize("text_col", ["lyrics", "lyric", "text", "Lyrics"])
def test_id_and_lyrics_column_variants(tmp_path, id_col, text_col):
    """Any of the known id and lyrics column names, in any case and padding, is used."""
    path = _write(tmp_path / "t.csv", ["genre", id_col, text_col], [["rock", "Rock/A.wav", "words"]])
    table = read_lyrics_table(path)
    assert table.to_dict("records") == [{"key": "rock/a", "lyrics": "words"}]


def test_id_column_preference(tmp_path):
    """With several id-like columns, the first of ID_COLUMNS wins (``filename`` over ``id``)."""
    path = _write(tmp_path / "t.csv", ["id", "filename", "lyrics"], [["7", "pop/x.mp3", "w"]])
    assert read_lyrics_table(path)["key"].tolist() == ["pop/x"]


@pytest.mark.parametrize(("header", "missing"), [
    (["filename", "words"], "lyrics"),
    (["name", "lyrics"], "id"),
])
def test_table_without_needed_column_raises(tmp_path, header, missing):
    """A table lacking the lyrics (or id) column raises DataError listing the columns
    found."""
    path = _write(tmp_path / "t.csv", header, [["a", "b"]])
    with pytest.raises(DataError, match=re.escape(f"found {header}")):
        read_lyrics_table(path)


def test_missing_table_raises(tmp_path):
    """A lyrics table that does not exist raises DataError naming it."""
    path = tmp_path / "nope.csv"
    with pytest.raises(DataError, match=re.escape(str(path)) + ".*not found"):
        read_lyrics_table(path)


@pytest.mark.parametrize("content", [
    b"",
    b"\xff\xfef\x00i\x00l\x00e\x00\n\x00",  # UTF-16
], ids=["empty", "utf16"])
def test_unreadable_table_raises_data_error(tmp_path, content):
    """An empty or non-UTF-8 file raises DataError, not a pandas or codec error."""
    path = tmp_path / "t.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=re.escape(str(path))):
        read_lyrics_table(path)


@pytest.mark.parametrize(("raw", "key"), [
    ("Bangla\\song_1.MP3", "bangla/song_1"),
    ("  Rock/Track 01.flac ", "rock/track 01"),
    ("blues.00000.wav", "blues.00000"),
    ("blues.00000", "blues.00000"),
    ("blues.00000.3.wav", "blues.00000.3"),
    ("a/b/c.OGG", "a/b/c"),
    ("notes.txt", "notes.txt"),
    ("x.au", "x"),
])
def test_normalise_key(raw, key):
    """Keys use forward slashes, lower case, no audio extension, no padding."""
    assert normalise_key(raw) == key


def test_table_keys_language_and_artist_are_normalised(tmp_path):
    """Keys are normalised; language and artist are trimmed and lower-cased, empty ones are
    None; rows without key or lyrics are dropped, and the first of a repeated key kept."""
    path = _write(tmp_path / "t.csv", ["File", "Language", "Artist", "Lyrics"], [
        ["Bangla\\song_1.MP3", " Bangla ", "Lalon", "গান"],
        ["english/song_2.wav", "", "", "words"],
        ["", "english", "x", "orphan lyrics"],
        ["english/song_3.wav", "english", "y", "   "],
        ["BANGLA/song_1.wav", "bangla", "other", "second copy"],
    ])
    table = read_lyrics_table(path)
    assert table["key"].tolist() == ["bangla/song_1", "english/song_2"]
    assert table["lyrics"].tolist() == ["গান", "words"]
    assert table["language"].iloc[0] == "bangla"
    assert table["artist"].iloc[0] == "lalon"
    assert pd.isna(table["language"].iloc[1])
    assert pd.isna(table["artist"].iloc[1])


# --- joining -------------------------------------------------------------------------------


@pytest.fixture
def table(tmp_path) -> pd.DataFrame:
    return read_lyrics_table(_write(tmp_path / "t.csv", ["filename", "language", "lyrics"], [
        ["bangla/song_1.mp3", "bangla", "one"],
        ["english/song_2.mp3", "english", "two"],
        ["bangla/dup.mp3", "bangla", "dup b"],
        ["english/dup.mp3", "english", "dup e"],
    ]))


@pytest.mark.parametrize(("keys", "lyrics"), [
    (("bangla/song_1", "song_1"), "one"),          # full relative key
    (("song_1",), "one"),                          # unique stem; the track names no folder
    (("folk/song_1", "song_1"), None),             # the row names another folder
    (("Bangla\\Song_1.WAV",), "one"),              # normalised before matching
    (("english/song_2.flac",), "two"),
    (("english/dup", "dup"), "dup e"),             # full key beats an ambiguous stem
    (("rock/dup", "dup"), None),                   # ambiguous stem: no match
    (("rock/song_9", "song_9"), None),             # nothing
    ((), None),
])
def test_join_by_key_then_unique_stem(table, keys, lyrics):
    """A track matches a table row by its full key or, failing that, the one row with its
    file name whose folders agree with the track's; otherwise it gets None."""
    joined = join_lyrics(table, [keys])
    assert joined["lyrics"].tolist() == [lyrics]
    if lyrics is None:
        assert joined["language"].tolist() == [None]


def test_join_is_aligned_with_tracks(table):
    """The joined frame has one row per track, in order, with the table's columns."""
    keys = [("x/none",), ("english/song_2",), ("song_1",), ("english/song_2",)]
    joined = join_lyrics(table, keys)
    assert list(joined.columns) == list(table.columns)
    assert joined["lyrics"].tolist() == [None, "two", "one", "two"]
    assert joined["language"].tolist() == [None, "english", "bangla", "english"]


def test_first_candidate_key_wins(table):
    """Candidate keys are tried most specific first."""
    joined = join_lyrics(table, [("english/song_2", "song_1")])
    assert joined["lyrics"].tolist() == ["two"]


# --- through build_manifest -----------------------------------------------------------------


def _data_cfg(params: dict, **data):
    raw = copy.deepcopy(params)
    raw["data"].update(synthetic=None, **data)
    return from_dict(raw).data


def _build(cfg, tmp: Path) -> sources.Prepared:
    return sources.build_manifest(cfg, seed=11, corpus_dir=tmp / "corpus", min_seconds=1.0,
                                  feature_columns=handcrafted_columns())


@pytest.fixture(scope="module")
def lyric_folder(tmp_path_factory, params) -> sources.Prepared:
    """A folder source: 12 pop tracks by 6 artists (2 each) and 3 rock tracks, with a
    lyrics table (BOM, mixed-case keys, other extensions) that gives artists and languages
    for the pop tracks and two of the rock tracks, one with an empty artist cell and one
    with an empty language cell, and a row of the third rock track's name in another
    folder, which joins nothing."""
    tmp = tmp_path_factory.mktemp("lyrics_folder")
    root = tmp / "songs"
    for i in range(12):
        _clip(root / "pop" / f"t{i:02d}.wav")
    for i in range(3):
        _clip(root / "rock" / f"r{i:02d}.wav")
    rows = [[f"POP/t{i:02d}.mp3", f"artist {i // 2}", "bangla" if i % 2 else "english",
             f"pop lyrics {i}"] for i in range(12)]
    rows.append(["r01.mp3", "", "Bangla", "rock lyrics"])  # no folder: joined by unique name
    rows.append(["elsewhere\\r00.mp3", "X", "Bangla", "not rock"])  # another folder: no join
    rows.append(["rock/r02.flac", "Solo", "", "more rock"])
    table = _write(tmp / "lyrics.csv", ["filename", "artist", "language", "lyrics"], rows, bom=True)
    cfg = _data_cfg(params, name="folder", root=str(root), lyrics=str(table), language="english")
    return _build(cfg, tmp)


def test_lyrics_language_and_artist_reach_the_manifest(lyric_folder):
    """Matched tracks get their lyrics and the table's language; an unmatched track keeps
    the source's language and has no lyrics."""
    m = lyric_folder.manifest.set_index("track_id")
    assert m.loc["pop/t03", "lyrics"] == "pop lyrics 3"
    assert m.loc["pop/t03", "language"] == "bangla"
    assert m.loc["pop/t04", "language"] == "english"
    assert m.loc["rock/r01", "lyrics"] == "rock lyrics"
    assert m.loc["rock/r01", "language"] == "bangla"
    assert m.loc["rock/r02", "lyrics"] == "more rock"
    assert pd.isna(m.loc["rock/r00", "lyrics"])
    assert m.loc["rock/r00", "language"] == "english"
    assert m["lyrics"].notna().sum() == 14


def test_artist_column_groups_an_artists_tracks(lyric_folder):
    """``group`` is ``artist:<name>`` where the table knows the artist (the track id when
    the track is not in the table), so an artist's tracks share one split."""
    m = lyric_folder.manifest
    pop = m[m["genre"] == "pop"]
    assert pop["group"].tolist() == [f"artist:artist {int(t[5:]) // 2}" for t in pop["track_id"]]
    groups = m.set_index("track_id")["group"]
    assert groups["rock/r02"] == "artist:solo"
    assert groups["rock/r00"] == "rock/r00"
    assert (pop.groupby("group")["split"].nunique() == 1).all()
    assert pop["split"].nunique() >= 2  # the check above is not trivially true


def test_empty_artist_or_language_cell_keeps_the_defaults(lyric_folder):
    """A matched row with an empty artist keeps the track's own group; one with an empty
    language keeps the source's language."""
    m = lyric_folder.manifest.set_index("track_id")
    assert m.loc["rock/r01", "group"] == "rock/r01"
    assert m.loc["rock/r02", "language"] == "english"


def test_gtzan_lyrics_join_by_stem(tmp_path, params):
    """GTZAN tracks join a table keyed by file name (``blues.00001.wav``)."""
    root = tmp_path / "genres"
    for g in ("blues", "rock"):
        for i in range(3):
            _clip(root / g / f"{g}.{i:05d}.wav")
    table = _write(tmp_path / "l.tsv", ["filename", "lyrics"],
                   [["blues.00001.wav", "woke up this morning"], ["rock.00002.au", "riff"]], sep="\t")
    m = _build(_data_cfg(params, name="gtzan", root=str(tmp_path), lyrics=str(table)),
               tmp_path).manifest.set_index("track_id")
    assert m.loc["blues.00001", "lyrics"] == "woke up this morning"
    assert m.loc["rock.00002", "lyrics"] == "riff"
    assert m["lyrics"].notna().sum() == 2


def test_missing_lyrics_table_in_config_raises(tmp_path, params):
    """A configured lyrics table that is not there raises DataError naming it."""
    _clip(tmp_path / "songs" / "pop" / "a.wav")
    cfg = _data_cfg(params, name="folder", root=str(tmp_path / "songs"),
                    lyrics=str(tmp_path / "absent.csv"))
    with pytest.raises(DataError, match=re.escape(str(tmp_path / "absent.csv"))):
        _build(cfg, tmp_path)


# --- the real table ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hblm(shared_data) -> tuple[Path, pd.DataFrame]:
    path = shared_data / "lyrics" / "hblm100_lyrics.csv"
    return path, read_lyrics_table(path)


def test_shared_table_reads_whole(hblm):
    """HBLM-100: 100 songs, 50 Bangla and 50 English, keys like ``bangla/song_1``."""
    path, table = hblm
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert len(table) == 100
    assert table["language"].value_counts().to_dict() == {"bangla": 50, "english": 50}
    assert table["key"].iloc[0] == "bangla/song_1"
    assert table["key"].str.fullmatch(r"(bangla|english)/song_\d+").all()
    assert table["key"].is_unique
    assert (table["key"].str.split("/").str[0] == table["language"]).all()


def test_shared_table_keeps_scripts_and_lines(hblm):
    """Bangla lyrics are in Bengali script, English ones are not, and multi-line fields
    survive."""
    _, table = hblm
    bangla = table.loc[table["language"] == "bangla", "lyrics"]
    english = table.loc[table["language"] == "english", "lyrics"]
    assert bangla.map(lambda s: bool(BENGALI.search(s))).all()
    assert not english.map(lambda s: bool(BENGALI.search(s))).any()
    assert table["lyrics"].str.contains("\n").sum() > 0


def test_shared_table_joins_by_stem(hblm):
    """Song numbers are unique across languages, so a bare stem finds its song, written
    any way; a track in a folder other than the row's does not."""
    _, table = hblm
    joined = join_lyrics(table, [("bangla/song_1",), ("song_1",), ("Song_51.MP3",),
                                 ("song_101",), ("Music\\Song_51.MP3",)])
    assert joined["language"].tolist() == ["bangla", "bangla", "english", None, None]
    assert joined["lyrics"].iloc[0] == joined["lyrics"].iloc[1]
    assert joined["lyrics"].iloc[2] == table.set_index("key").loc["english/song_51", "lyrics"]
