"""Clips grouped back into songs (plain numbers in blocks, or names read by the pattern),
and the check that measures on the audio whether numbered clips follow songs."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genrevae import cli
from genrevae.config import from_dict
from genrevae.data import clips, sources
from genrevae.data.synthetic import generate_track
from genrevae.errors import DataError
from genrevae.features.audio import handcrafted_columns

SR = 8000  # low, to keep generation and decoding quick
CLIP_S = 3.0
PER_SONG = 10
# Folder name -> synthetic style; six songs a genre give ten cuts between songs in all.
GENRES = {"Folk": "classical", "Hiphop": "hiphop"}
SONGS = 6
DEFAULT_PATTERN = r"^(?P<song>.+?)[._ -]*\(?(?P<clip>\d+)\)?$"
NAMINGS = {
    "numbered": lambda song, clip: f"{song * PER_SONG + clip + 1}",
    "underscore": lambda song, clip: f"song{song}_{clip}",
    "parenthesis": lambda song, clip: f"song{song} ({clip + 1})",
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    """The same clips, cut in order from 30-s tracks, under every naming, plus a copy
    numbered at random; ``songs`` maps each numbered path to its (genre, song)."""
    base = tmp_path_factory.mktemp("clips")
    rng = np.random.default_rng(11)
    songs: dict[str, dict[str, tuple[str, int]]] = {name: {} for name in NAMINGS}
    n = round(CLIP_S * SR)
    for genre, style in GENRES.items():
        cut = []
        for song in range(SONGS):
            y = generate_track(style, song, languages=("bangla",), duration=CLIP_S * PER_SONG,
                               sr=SR, instrumental_fraction=1.0, seed=5).audio
            cut += [(song, clip, y[clip * n:(clip + 1) * n]) for clip in range(PER_SONG)]
        for naming, name_of in NAMINGS.items():
            folder = base / naming / "wavs3sec" / genre
            folder.mkdir(parents=True)
            for song, clip, y in cut:
                path = folder / f"{name_of(song, clip)}.wav"
                sf.write(path, y, SR, subtype="PCM_16")
                songs[naming][path.as_posix()] = (genre, song)
        shuffled = base / "shuffled" / genre
        shuffled.mkdir(parents=True)
        for number, (_, _, y) in zip(rng.permutation(len(cut)) + 1, cut, strict=True):
            sf.write(shuffled / f"{number}.wav", y, SR, subtype="PCM_16")
    return {"base": base, "songs": songs}


# --- grouping ------------------------------------------------------------------------------


@pytest.mark.parametrize("naming", sorted(NAMINGS))
def test_prepare_keeps_each_song_in_one_group(naming, corpus, params):
    """prepare (data=banglabeats) puts the clips of a song in one group, and no group holds
    clips of two songs, whether the clips are numbered or named."""
    raw = copy.deepcopy(params)
    raw["data"].update(name="banglabeats", root=str(corpus["base"] / naming), synthetic=None)
    prepared = sources.build_manifest(from_dict(raw).data, seed=3, corpus_dir=corpus["base"],
                                      min_seconds=1.0, feature_columns=handcrafted_columns())
    m = prepared.manifest
    truth = corpus["songs"][naming]
    assert len(m) == len(truth) == len(GENRES) * SONGS * PER_SONG
    song = m["path"].map(truth)
    assert (m.groupby("group")["path"].apply(lambda p: p.map(truth).nunique()) == 1).all()
    assert (m.groupby(song)["group"].nunique() == 1).all()
    assert m["group"].nunique() == len(GENRES) * SONGS
    assert (m.groupby("group")["split"].nunique() == 1).all()


def _groups(stems: list[str], genre: str = "Folk", per_song: int = PER_SONG) -> list[str]:
    return clips.song_groups([(genre, s) for s in stems], clip_pattern=DEFAULT_PATTERN,
                             clips_per_song=per_song)


@pytest.mark.parametrize(
    ("stem", "per_song", "song"),
    [
        ("1", 10, "song0"), ("10", 10, "song0"), ("11", 10, "song1"), ("157", 10, "song15"),
        ("1490", 10, "song148"), ("1491", 10, "song149"), ("2350", 10, "song234"),
        ("0007", 10, "song0"), ("১৪৯০", 10, "song148"),  # Bengali digits are numbers too
        ("1490", 5, "song297"), ("1", 1, "song0"), ("2", 1, "song1"),
        # other names go to the pattern, whatever clips_per_song says
        ("song12_3", 10, "song12"), ("song12 (3)", 10, "song12"), ("song12.03", 5, "song12"),
        ("intro", 10, "intro"), ("²", 10, "²"),  # a superscript is no number
    ],
)
def test_song_of_a_clip(stem, per_song, song):
    """Plain numbers N are in song (N - 1) // clips_per_song, not split by the pattern
    (which reads 1490 as song 1, clip 490); other names keep the pattern."""
    assert _groups([stem], per_song=per_song) == [f"Folk/{song}"]


def test_a_large_numbered_genre_groups_into_blocks(caplog):
    """Folk numbered 1..2350 (235 songs) gives 235 groups of ten consecutive numbers; the
    same number in another genre is another song; only the gappy genre is warned of."""
    stems = [str(n) for n in range(1, 2351)]
    with caplog.at_level(logging.INFO, logger="genrevae.data.clips"):
        groups = clips.song_groups([("Folk", s) for s in stems] + [("Rock", "1490")],
                                   clip_pattern=DEFAULT_PATTERN, clips_per_song=PER_SONG)
    members: dict[str, list[int]] = {}
    for stem, group in zip(stems, groups, strict=False):
        members.setdefault(group, []).append(int(stem))
    assert len(members) == 235
    assert all(ns == list(range(ns[0], ns[0] + PER_SONG)) and ns[0] % PER_SONG == 1
               for ns in members.values())
    assert groups[-1] == "Rock/song148" and "Folk/song148" in members
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warned) == 1 and "Rock: clips 1..1490 miss 1489 numbers" in warned[0]
    assert "2351 clips grouped into 236 songs" in caplog.text


def test_a_numbering_from_zero_starts_the_first_song_at_zero():
    assert _groups([str(n) for n in range(20)]) == ["Folk/song0"] * 10 + ["Folk/song1"] * 10


def test_gaps_and_uneven_songs_are_warned(caplog):
    """Missing numbers, or a last song of other than clips_per_song clips, may mean the
    fixed blocks cut across songs: the warning says where and points to the check."""
    stems = [str(n) for n in range(1, 31) if n not in (17, 18)] + ["31"]
    with caplog.at_level(logging.WARNING, logger="genrevae.data.clips"):
        _groups(stems)
    (record,) = caplog.records
    text = record.getMessage()
    assert "Folk: clips 1..31 miss 2 numbers (17, 18)" in text
    assert "2 of 4 songs hold other than 10 clips (song1: 8, song3: 1)" in text
    assert "genrevae check-clips" in text


def test_a_huge_number_is_one_more_song_and_is_reported_quickly(caplog):
    with caplog.at_level(logging.WARNING, logger="genrevae.data.clips"):
        groups = _groups([str(n) for n in range(1, 11)] + ["9" * 40])
    assert groups[-1] == f"Folk/song{(int('9' * 40) - 1) // PER_SONG}"
    assert f"miss {int('9' * 40) - 11} numbers (11, 12, 13, 14, 15, ...)" in caplog.text


def test_a_folder_mixing_numbers_and_names_is_warned(caplog):
    with caplog.at_level(logging.WARNING, logger="genrevae.data.clips"):
        groups = _groups([str(n) for n in range(1, 11)] + ["song3_1", "song3_2"])
    assert set(groups) == {"Folk/song0", "Folk/song3"}
    assert "holds 10 plain-numbered clips and 2 named ones" in caplog.text


# --- the check -----------------------------------------------------------------------------


def _check(root: Path, **kwargs) -> clips.ClipCheck:
    return clips.check_clips(root, sr=SR, **kwargs)


def test_check_says_grouping_holds_for_clips_cut_in_order(corpus):
    """Cuts between the songs of ten clips are bigger jumps than cuts inside them, and ten
    is the block size that fits best."""
    report = _check(corpus["base"] / "numbered" / "wavs3sec")
    assert report.verdict == "holds", report.message
    assert report.best_block == PER_SONG
    assert report.pairs == len(GENRES) * (SONGS * PER_SONG - 1)
    assert report.across.n == len(GENRES) * (SONGS - 1)
    assert report.across.median_db > report.within.median_db
    assert report.auc >= clips.HOLD_AUC
    assert report.genres == sorted(GENRES)


def test_check_finds_the_block_size_of_a_copy_that_differs(corpus):
    """Asked to check songs of 5 clips where songs hold 10, it says the grouping does not
    hold and names 10."""
    report = _check(corpus["base"] / "numbered" / "wavs3sec", clips_per_song=5)
    assert report.verdict == "does not hold", report.message
    assert report.best_block == PER_SONG
    assert "try data.clips_per_song=10" in report.message


def test_check_says_grouping_fails_when_numbers_are_shuffled(corpus):
    report = _check(corpus["base"] / "shuffled")
    assert report.verdict == "does not hold", report.message
    assert report.auc < clips.HOLD_AUC


def test_check_is_inconclusive_without_numbered_clips_or_with_few_cuts(corpus):
    named = _check(corpus["base"] / "underscore" / "wavs3sec")
    assert named.verdict == "inconclusive" and named.pairs == 0
    assert named.other_clips == len(GENRES) * SONGS * PER_SONG
    few = _check(corpus["base"] / "numbered" / "wavs3sec", genres=["Folk"], max_pairs=20)
    assert few.pairs == 20 and few.genres == ["Folk"]
    assert few.verdict == "inconclusive" and "too few cuts" in few.message


def test_check_refuses_a_genre_that_is_not_there(corpus):
    with pytest.raises(DataError, match="no genre folder Pop; found Folk, Hiphop"):
        _check(corpus["base"] / "shuffled", genres=["Pop"])


def test_check_clips_command_prints_json(corpus, capsys):
    """`genrevae check-clips` finds wavs3sec/ under the dataset folder it is given."""
    cli.main(["check-clips", str(corpus["base"] / "numbered"), "--clips-per-song", "10",
              "--json", "--strict"])
    report = json.loads(capsys.readouterr().out)
    assert report["verdict"] == "holds"
    assert report["best_block"] == PER_SONG
    assert set(report["within"]) == {"n", "median_db"}

