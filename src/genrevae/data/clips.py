"""Short clips grouped back into the songs they were cut from, and a check of that grouping
measured on the audio.

The split unit of a clip corpus such as BanglaBeats is the song: clips of one song in two
splits would let the model be scored on music it trained on. Two namings are read:

- a file name that is a plain number (``Folk/1490.wav``) is clip N of its genre folder,
  and clips are numbered song after song, ``clips_per_song`` each: clip N (from 1) is in
  song ``(N - 1) // clips_per_song``, group ``<genre>/song<k>``;
- any other name is read with ``clip_pattern``, whose group ``song`` names the song
  (``song12_3.wav`` and ``song12 (3).wav`` are clips of ``<genre>/song12``).

Whether a copy really is numbered that way can be measured: where numbers follow songs,
the cut between clips N and N + 1 of one song is continuous (the music goes on), and the
one between the last clip of a song and the first of the next is not.
:func:`check_clips` compares the two kinds of cut (see :class:`ClipCheck`).
"""

from __future__ import annotations

import functools
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import librosa
import numpy as np
import regex
from scipy.stats import mannwhitneyu
from tqdm import tqdm

from genrevae.data.audio import AUDIO_EXTENSIONS, load_audio
from genrevae.errors import AudioError, ConfigError, DataError

log = logging.getLogger(__name__)

# Seconds one file name may take to match data.clip_pattern: a plain pattern takes
# microseconds; one that backtracks catastrophically (``(a|aa)+`` on a long name) would
# take longer than the age of the universe, so it is stopped and named instead.
MATCH_SECONDS = 1.0


def compile_clip_pattern(pattern: str) -> regex.Pattern:
    """``data.clip_pattern`` compiled (the ``regex`` engine, which can stop a match that
    runs too long: :func:`match_clip`); :class:`ConfigError` naming the key if it is not a
    regular expression or has no group ``song``."""
    try:
        compiled = regex.compile(pattern)
    except (regex.error, TypeError, ValueError) as exc:
        raise ConfigError(f"data.clip_pattern: not a regular expression ({exc})") from exc
    if "song" not in compiled.groupindex:
        raise ConfigError("data.clip_pattern: needs a named group (?P<song>...)")
    return compiled


def match_clip(pattern: regex.Pattern, stem: str) -> regex.Match | None:
    """``pattern`` matched at the start of ``stem`` within :data:`MATCH_SECONDS`; a
    :class:`ConfigError` naming ``data.clip_pattern`` and the name when it takes longer."""
    try:
        return pattern.match(stem, timeout=MATCH_SECONDS)
    except TimeoutError as exc:
        raise ConfigError(
            f"data.clip_pattern: matching the file name {stem!r} took over {MATCH_SECONDS:g} s "
            "(the pattern backtracks without end on such names: avoid nested repeats such as "
            "(a+)+ or (a|aa)+)") from exc

# --- grouping ------------------------------------------------------------------------------


def clip_number(stem: str) -> int | None:
    """N for a file name that is a plain number (``"1490"``, ``"0007"``, Bengali digits
    too), else None."""
    # isdecimal, not isdigit: superscripts are digits that int() refuses.
    return int(stem) if stem.isdecimal() else None


def first_number(numbers: Iterable[int]) -> int:
    """Where a folder's numbering starts: 1, or 0 when it holds a clip 0."""
    return 0 if 0 in set(numbers) else 1


def numbered_song(number: int, *, clips_per_song: int, first: int = 1) -> int:
    """The song (from 0) that clip ``number`` belongs to, numbering starting at ``first``."""
    return (number - first) // clips_per_song


def song_groups(
    clips: Sequence[tuple[str, str]], *, clip_pattern: str, clips_per_song: int,
    source: str = "banglabeats",
) -> list[str]:
    """The song group ``<genre>/<song>`` of each clip, given as (genre, file stem).

    Plain-numbered stems are grouped by number (see the module docstring); numbering
    starts at 1, or at 0 in a genre folder that holds a clip 0. Other stems are read with
    ``clip_pattern``; a stem it does not match is a song of its own. Logs how many songs
    the clips fall into, and warns where a genre's numbering has gaps or songs of unequal
    size, or where one folder mixes both namings.
    """
    pattern = compile_clip_pattern(clip_pattern)
    numbers = [clip_number(stem) for _, stem in clips]
    per_genre: dict[str, list[int]] = defaultdict(list)
    named_in: Counter[str] = Counter()
    for (genre, _), n in zip(clips, numbers, strict=True):
        if n is None:
            named_in[genre] += 1
        else:
            per_genre[genre].append(n)
    first = {genre: first_number(ns) for genre, ns in per_genre.items()}
    groups, unmatched = [], 0
    for (genre, stem), n in zip(clips, numbers, strict=True):
        if n is not None:
            song = numbered_song(n, clips_per_song=clips_per_song, first=first[genre])
            groups.append(f"{genre}/song{song}")
            continue
        match = match_clip(pattern, stem)
        unmatched += match is None
        groups.append(f"{genre}/{match['song'] if match else stem}")
    for genre, ns in sorted(per_genre.items()):
        _warn_uneven(source, genre, ns, clips_per_song=clips_per_song, first=first[genre])
        if named_in[genre]:
            log.warning("%s: %s holds %d plain-numbered clips and %d named ones; the numbered "
                        "are grouped by number, the others by data.clip_pattern", source, genre,
                        len(ns), named_in[genre])
    if clips:
        sizes = Counter(groups)
        n_numbered = sum(len(ns) for ns in per_genre.values())
        log.info("%s: %d clips grouped into %d songs (median %d clips a song): %d by number "
                 "(%d a song), %d by data.clip_pattern%s", source, len(clips), len(sizes),
                 int(np.median(list(sizes.values()))), n_numbered, clips_per_song,
                 len(clips) - n_numbered,
                 f" ({unmatched} matching no song: one song each)" if unmatched else "")
    return groups


def _warn_uneven(source: str, genre: str, numbers: list[int], *, clips_per_song: int,
                 first: int) -> None:
    """Warn when a genre's numbering has gaps or songs of other than ``clips_per_song``
    clips: either means the fixed-size grouping may cut across songs there."""
    present = sorted(set(numbers))
    n_missing = present[-1] - first + 1 - len(present)
    missing: list[int] = []  # the first few, found without listing them all (N may be huge)
    before = first - 1
    for n in present:
        missing += range(before + 1, min(n, before + 1 + 5 - len(missing)))
        before = n
    sizes = Counter(numbered_song(n, clips_per_song=clips_per_song, first=first) for n in present)
    odd = {song: size for song, size in sorted(sizes.items()) if size != clips_per_song}
    if not n_missing and not odd:
        return
    gaps = ""
    if n_missing:
        more = ", ..." if n_missing > len(missing) else ""
        gaps = f" miss {n_missing} numbers ({', '.join(map(str, missing))}{more})"
    shown = ", ".join(f"song{s}: {n}" for s, n in list(odd.items())[:4])
    log.warning("%s: %s: clips %d..%d%s; %d of %d songs hold other than %d clips (%s%s); check "
                "the grouping with `genrevae check-clips`", source, genre, first, present[-1],
                gaps, len(odd), len(sizes), clips_per_song, shown,
                ", ..." if len(odd) > 4 else "")


# --- the check -----------------------------------------------------------------------------

# The cut is compared at two scales: a short window catches the cut itself (a note or a
# texture goes on through it within a song), a longer one the sound either side (a new song
# changes it even where the cut falls on a drum hit, which breaks the short window).
WINDOWS_S = (0.1, 1.0)
N_MELS = 40
FLOOR_DB = -80.0  # silence at a song's start would otherwise weigh as an endless jump
# Verdicts: grouping holds when cuts between songs rank above those inside songs with this
# AUC (0.5: no difference; 1: every cut between songs is a bigger jump than every cut inside
# one) and a one-sided Mann-Whitney test gives at most this p.
HOLD_AUC = 0.75
ALPHA = 0.01
# Fewer cuts of either kind than this cannot show that grouping fails.
MIN_PAIRS = 10
# A multiple of the true song size scores nearly as well (its block ends are true song
# ends, but it calls some song ends "inside"): the smallest size this close to the best
# is reported.
BLOCK_TOLERANCE = 0.03
DEFAULT_BLOCK_SIZES = tuple(range(2, 21))


@dataclass(frozen=True)
class Boundaries:
    """One kind of cut: how many were measured and their median jump (dB)."""

    n: int
    median_db: float | None


@dataclass
class ClipCheck:
    """The report of :func:`check_clips`.

    ``within`` are cuts between consecutive numbers inside one presumed song, ``across``
    cuts at the end of a presumed song (the clip's place in its folder, from 1, a multiple
    of ``clips_per_song``). A cut's jump is the mean absolute difference (dB) of the mean
    log-mel spectrum just before and just after it, averaged over the windows in
    :data:`WINDOWS_S`; ``auc`` ranks the jumps after dividing each by the median jump of
    its genre, so quiet and loud genres pool fairly. ``block_auc`` is that AUC for each
    block size tried (None with too few cuts), ``best_block`` the best-fitting size.
    """

    clips_per_song: int
    verdict: str  # holds | does not hold | inconclusive
    message: str
    genres: list[str]
    numbered_clips: int
    other_clips: int
    unreadable: int
    pairs: int
    within: Boundaries
    across: Boundaries
    auc: float | None = None
    p_value: float | None = None
    block_auc: dict[int, float | None] = field(default_factory=dict)
    best_block: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class _Pair:
    genre: str
    place: int  # the cut after the clip at this place in its folder's numbering (from 1)
    jump_db: float
    relative: float  # jump_db over the genre's median jump


@functools.lru_cache(maxsize=4)
def _mel_basis(sr: int, n_fft: int) -> np.ndarray:
    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=N_MELS)


def _edges(y: np.ndarray, *, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean log-mel spectra [shape=(len(WINDOWS_S), N_MELS), dB] of the first and of the
    last window of each length in ``y`` [shape=(n,)]."""
    n_fft = 1 << int(np.log2(max(64, 0.032 * sr)))  # about 32 ms at any rate
    basis = _mel_basis(sr, n_fft)

    def envelope(x: np.ndarray) -> np.ndarray:
        if len(x) < n_fft:
            x = np.pad(x, (0, n_fft - len(x)))
        power = np.abs(librosa.stft(x, n_fft=n_fft, hop_length=n_fft // 4, center=False)) ** 2
        return librosa.power_to_db(basis @ power.mean(axis=1), ref=1.0,
                                   amin=10 ** (FLOOR_DB / 10), top_db=None)

    heads, tails = [], []
    for seconds in WINDOWS_S:
        w = min(len(y), round(seconds * sr))
        heads.append(envelope(y[:w]))
        tails.append(envelope(y[-w:]))
    return np.stack(heads), np.stack(tails)


def numbered_clips(genre_root: Path, genres: Iterable[str] | None = None
                   ) -> tuple[dict[str, dict[int, Path]], int]:
    """Plain-numbered audio clips per genre folder (``{genre: {N: path}}``) and how many
    other audio files those folders hold."""
    folders = sorted(p for p in genre_root.iterdir() if p.is_dir() and p.name[0] != ".")
    wanted = set(genres) if genres is not None else {p.name for p in folders}
    absent = sorted(wanted - {p.name for p in folders})
    if absent:
        raise DataError(f"{genre_root}: no genre folder {', '.join(absent)}; found "
                        f"{', '.join(p.name for p in folders) or 'none'}")
    found: dict[str, dict[int, Path]] = {}
    others = 0
    for folder in (p for p in folders if p.name in wanted):
        found[folder.name] = {}
        for path in folder.iterdir():
            if path.suffix.lower() not in AUDIO_EXTENSIONS or path.name.startswith("."):
                continue
            n = clip_number(path.stem)
            if n is None:
                others += 1
            else:
                found[folder.name][n] = path
    return found, others


def check_clips(
    genre_root: str | Path, *, clips_per_song: int = 10, genres: Iterable[str] | None = None,
    max_pairs: int = 2000, block_sizes: Sequence[int] = DEFAULT_BLOCK_SIZES, sr: int = 22050,
    seed: int = 0,
) -> ClipCheck:
    """Measure whether consecutive numbered clips continue one another in blocks of
    ``clips_per_song``, the grouping :func:`song_groups` applies; see :class:`ClipCheck`.

    ``genre_root`` holds a folder per genre. Cuts between consecutive numbers present in a
    folder are measured, at most ``max_pairs`` of them (drawn with ``seed``), so the time
    is bounded on any corpus: each clip involved is decoded once, with
    :func:`~genrevae.data.audio.load_audio` at ``sr``. Unreadable clips are counted and
    their cuts left out.
    """
    if clips_per_song < 1 or max_pairs < 1:
        raise DataError(f"clips per song ({clips_per_song}) and pairs ({max_pairs}) must be "
                        ">= 1")
    genre_root = Path(genre_root)
    if not genre_root.is_dir():
        raise DataError(f"{genre_root}: not a folder")
    clips, others = numbered_clips(genre_root, genres)
    cuts = [(g, n) for g in sorted(clips) for n in sorted(clips[g]) if n + 1 in clips[g]]
    if len(cuts) > max_pairs:
        rng = np.random.default_rng(seed)
        cuts = [cuts[i] for i in sorted(rng.choice(len(cuts), size=max_pairs, replace=False))]
    needed = sorted({(g, m) for g, n in cuts for m in (n, n + 1)})
    edges: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}
    unreadable = 0
    for g, n in tqdm(needed, desc="check clips", unit="clip"):
        try:
            edges[(g, n)] = _edges(load_audio(clips[g][n], sr=sr), sr=sr)
        except AudioError as exc:
            log.warning("left out: %s", exc)
            unreadable += 1
    first = {g: first_number(c) for g, c in clips.items()}
    pairs = _pairs(cuts, edges, first)
    report = ClipCheck(
        clips_per_song=clips_per_song, verdict="inconclusive", message="",
        genres=sorted(clips), numbered_clips=sum(len(c) for c in clips.values()),
        other_clips=others, unreadable=unreadable, pairs=len(pairs),
        within=Boundaries(0, None), across=Boundaries(0, None),
    )
    _score(report, pairs, block_sizes)
    return report


def _pairs(cuts: list[tuple[str, int]],
           edges: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]],
           first: dict[str, int]) -> list[_Pair]:
    jumps = [(g, n, float(np.mean(np.abs(edges[(g, n)][1] - edges[(g, n + 1)][0]))))
             for g, n in cuts if (g, n) in edges and (g, n + 1) in edges]
    scale = {g: float(np.median([j for gg, _, j in jumps if gg == g])) for g, _, _ in jumps}
    return [_Pair(g, n - first[g] + 1, j, j / scale[g] if scale[g] > 0 else 0.0)
            for g, n, j in jumps]


def _split(pairs: list[_Pair], block: int) -> tuple[list[_Pair], list[_Pair]]:
    """(within, across) blocks of ``block`` clips: the cut after place N ends a block when
    N % block is 0 (places 1..block form the first)."""
    return ([p for p in pairs if p.place % block != 0],
            [p for p in pairs if p.place % block == 0])


def _auc(within: list[_Pair], across: list[_Pair]) -> tuple[float, float] | None:
    """The AUC that a cut between songs is a bigger jump than one inside a song, and the
    one-sided Mann-Whitney p; None with fewer than :data:`MIN_PAIRS` of either."""
    if len(within) < MIN_PAIRS or len(across) < MIN_PAIRS:
        return None
    test = mannwhitneyu([p.relative for p in across], [p.relative for p in within],
                        alternative="greater")
    return float(test.statistic) / (len(within) * len(across)), float(test.pvalue)


def _score(report: ClipCheck, pairs: list[_Pair], block_sizes: Sequence[int]) -> None:
    """Fill in the distributions, the AUC per block size and the verdict."""
    block = report.clips_per_song
    within, across = _split(pairs, block)

    def stats(ps: list[_Pair]) -> Boundaries:
        return Boundaries(len(ps), float(np.median([p.jump_db for p in ps])) if ps else None)

    report.within, report.across = stats(within), stats(across)
    scored = {b: _auc(*_split(pairs, b)) for b in sorted({*block_sizes, block}) if b >= 2}
    report.block_auc = {b: None if s is None else round(s[0], 4) for b, s in scored.items()}
    fitted = {b: s[0] for b, s in scored.items() if s is not None}
    if fitted:
        top = max(fitted.values())
        report.best_block = min(b for b, a in fitted.items() if a >= top - BLOCK_TOLERANCE)
    result = scored.get(block)
    if result is not None:
        report.auc, report.p_value = round(result[0], 4), result[1]
    report.verdict, report.message = _verdict(report)


def _verdict(r: ClipCheck) -> tuple[str, str]:
    if r.pairs == 0:
        return "inconclusive", ("no two consecutive plain-numbered clips to compare "
                                f"({r.other_clips} clips with other names are not checked)")
    if r.clips_per_song < 2:
        return "inconclusive", "with 1 clip a song there is no cut inside a song to compare"
    fit = r.block_auc.get(r.best_block) if r.best_block is not None else None
    better = fit is not None and fit >= HOLD_AUC and r.best_block != r.clips_per_song
    if r.auc is None or r.p_value is None:
        return "inconclusive", (f"too few cuts to tell: {r.within.n} inside and {r.across.n} "
                                f"between presumed songs, at least {MIN_PAIRS} of each needed")
    measured = f"AUC {r.auc:.2f}, p {r.p_value:.1e}"
    # A size that fits better wins even over one that passes: half the true size passes too
    # (every other cut it calls a song end is one), yet it splits each song in two.
    if better:
        return "does not hold", (f"blocks of {r.best_block} clips fit better than blocks of "
                                 f"{r.clips_per_song} (AUC {fit:.2f} against {measured}): try "
                                 f"data.clips_per_song={r.best_block}")
    if r.auc >= HOLD_AUC and r.p_value <= ALPHA:
        return "holds", (f"cuts between presumed songs are bigger jumps than cuts inside them "
                         f"({measured})")
    return "does not hold", (f"cuts between presumed songs of {r.clips_per_song} clips are not "
                             f"clearly bigger jumps than cuts inside them ({measured}), and no "
                             "other block size tried fits: the numbers may not follow songs "
                             "(name the clips <song>_<clip> and set data.clip_pattern)")


def format_report(r: ClipCheck) -> str:
    """The report as a few lines of text."""

    def jumps(b: Boundaries) -> str:
        return f"{b.n} cuts" + ("" if b.median_db is None else
                                f", median jump {b.median_db:.2f} dB")

    fits = ", ".join(f"{b}: {a:.2f}" for b, a in r.block_auc.items() if a is not None)
    return "\n".join([
        f"genres: {', '.join(r.genres) or '(none)'}; {r.numbered_clips} numbered clips "
        f"({r.other_clips} with other names, {r.unreadable} unreadable); {r.pairs} cuts "
        "measured",
        f"inside presumed songs of {r.clips_per_song} clips: {jumps(r.within)}",
        f"between presumed songs: {jumps(r.across)}",
        f"AUC by block size: {fits or '(too few cuts)'}",
        f"grouping {r.verdict}: {r.message}",
    ])
