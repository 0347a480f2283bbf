"""The ``data`` section: which datasets a run reads, how they are split, and the embedded
corpus generator; each dataclass validates its own keys."""

from __future__ import annotations

from dataclasses import dataclass

import regex

from genrevae.config.build import SAMPLE_RATE_RANGE, at_most, fail, in_range, one_of, positive
from genrevae.data.split_lists import NAMED_SPLITS, RANDOM, list_folder

DATA_SOURCES = ("synthetic", "gtzan", "banglabeats", "folder", "features_table")
# Sources that can be combined in one run (data.extra_sources); each reads audio files.
AUDIO_SOURCES = ("gtzan", "banglabeats", "folder")
MAX_SYNTHETIC_SECONDS = 3600.0


@dataclass(frozen=True)
class FractionsConfig:
    """Shares of a random split (``data.split: random``)."""

    train: float
    val: float
    test: float

    def check(self) -> None:
        for name in ("train", "val", "test"):
            share = getattr(self, name)
            if not 0.0 < share < 1.0:
                fail(f"data.fractions.{name}", f"must be in (0, 1), got {share}")
        total = self.train + self.val + self.test
        if abs(total - 1.0) > 1e-6:
            fail("data.fractions", f"train + val + test must be 1, got {total:g}")


@dataclass(frozen=True)
class SyntheticConfig:
    """The embedded corpus generator (``data=synthetic``)."""

    sample_rate: int
    duration: float
    genres: tuple[str, ...]
    tracks_per_genre: int
    languages: tuple[str, ...]
    instrumental_fraction: float

    def check(self) -> None:
        in_range("data.synthetic.sample_rate", self.sample_rate, *SAMPLE_RATE_RANGE)
        positive("data.synthetic.duration", self.duration)
        at_most("data.synthetic.duration", self.duration, MAX_SYNTHETIC_SECONDS)
        if len(self.genres) < 2:
            fail("data.synthetic.genres", "needs at least two genres")
        if len(set(self.genres)) != len(self.genres):
            fail("data.synthetic.genres", "genres must be distinct")
        if self.tracks_per_genre < 3:
            fail("data.synthetic.tracks_per_genre",
                 f"needs >= 3 (one per split), got {self.tracks_per_genre}")
        if not self.languages:
            fail("data.synthetic.languages", "needs at least one language")
        if not 0.0 <= self.instrumental_fraction <= 1.0:
            fail("data.synthetic.instrumental_fraction",
                 f"must be in [0, 1], got {self.instrumental_fraction}")


@dataclass(frozen=True)
class SourceConfig:
    """One dataset: its reader, where it is, its lyrics table and its language."""

    name: str
    root: str | None
    lyrics: str | None = None
    language: str | None = None
    # A table of per-track facts (artist, language, anything else), joined like lyrics.
    metadata: str | None = None

    def check_extra(self, key: str) -> None:
        """Checks of the extra source at ``key`` (``data.extra_sources[0]``); the main
        source's fields are checked by :meth:`DataConfig.check`."""
        one_of(f"{key}.name", self.name, AUDIO_SOURCES)
        if not self.root:
            fail(f"{key}.root", "missing the path of its data")


@dataclass(frozen=True)
class DataConfig:
    name: str
    root: str | None
    lyrics: str | None
    language: str | None
    # More audio sources read in the same run (e.g. BanglaBeats beside GTZAN).
    extra_sources: tuple[SourceConfig, ...]
    # "<source>:<genre>" (or "<genre>") -> merged genre name; unmapped genres of several
    # sources stay distinct as "<source>:<genre>".
    genre_map: dict[str, str]
    # features_table: the column holding the genre.
    label_column: str
    # banglabeats: a clip whose file name is a plain number N (1490.wav) is in song
    # (N - 1) // clips_per_song of its genre folder; any other name is read with
    # clip_pattern, whose group "song" names the song the clip came from.
    clip_pattern: str
    clips_per_song: int
    # random (grouped, stratified, seeded), a split shipped with the project
    # (genrevae.data.splits.NAMED_SPLITS) or a folder holding train.txt, val.txt, test.txt.
    split: str
    fractions: FractionsConfig
    synthetic: SyntheticConfig | None
    metadata: str | None = None
    # Drop from the test split the tracks whose artist (named by a lyrics or metadata
    # table) has train tracks; prepare reports them either way (paths.split_report).
    split_drop_straddling: bool = False

    def sources(self) -> tuple[SourceConfig, ...]:
        """The main source followed by the extra ones."""
        main = SourceConfig(self.name, self.root, self.lyrics, self.language, self.metadata)
        return (main, *self.extra_sources)

    def check(self) -> None:
        one_of("data.name", self.name, DATA_SOURCES)
        self.fractions.check()
        self._check_split()
        try:
            # The engine prepare matches it with (genrevae.data.clips.match_clip), which
            # can stop a pattern that backtracks without end.
            pattern = regex.compile(self.clip_pattern)
        except (regex.error, TypeError, ValueError) as exc:
            fail("data.clip_pattern", f"not a regular expression ({exc})")
        if "song" not in pattern.groupindex:
            fail("data.clip_pattern", "needs a named group (?P<song>...)")
        if self.clips_per_song < 1:
            fail("data.clips_per_song", f"must be >= 1 (clips cut from one song), got "
                                        f"{self.clips_per_song}")
        if self.name == "synthetic":
            if self.synthetic is None:
                fail("data.synthetic", "data=synthetic needs the generator settings")
            self.synthetic.check()
        elif not self.root:
            fail("data.root", f"data={self.name} needs the path of its data")
        for i, extra in enumerate(self.extra_sources):
            key = f"data.extra_sources[{i}]"
            if self.name not in AUDIO_SOURCES:
                fail(key, f"extra sources combine audio datasets; data={self.name} cannot "
                          "take them")
            extra.check_extra(key)

    def _check_split(self) -> None:
        if not self.split.strip():
            fail("data.split", f"must be {RANDOM}, one of {', '.join(NAMED_SPLITS)} or a "
                               "folder holding train.txt, val.txt and test.txt")
        if self.name == "synthetic" and self.split != RANDOM:
            fail("data.split", "the embedded corpus is split at random; a list of tracks "
                               "needs a real dataset")
        if self.split != RANDOM:
            try:
                list_folder(self.split)
            except FileNotFoundError as exc:
                fail("data.split", str(exc))
