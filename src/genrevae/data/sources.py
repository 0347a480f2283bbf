"""Data sources: each turns a dataset, as users download it, into manifest rows (one per
track) and rejection rows (one per file left out, with its reason).

Readers: ``synthetic`` (the embedded corpus), ``gtzan`` (Kaggle ``Data/genres_original``
or the original ``genres/`` layout), ``banglabeats`` (the Kaggle 3-s clips, grouped back
into songs), ``folder`` (any ``<root>/<genre>/<files>`` tree) and ``features_table`` (a
Kaggle-format feature table used directly). Several audio sources can be read in one run.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import stat
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from tqdm import tqdm

from genrevae.config import DataConfig, SourceConfig
from genrevae.data import clips, synthetic
from genrevae.data.audio import AUDIO_EXTENSIONS, AudioInfo, probe_audio
from genrevae.data.lyrics import join_lyrics, normalise_key, read_lyrics_table
from genrevae.data.splits import SPLITS, assign_splits, strata_per_split
from genrevae.errors import AudioError, ConfigError, DataError
from genrevae.io import MANIFEST_COLUMNS, atomic_dir

log = logging.getLogger(__name__)

# Manifest columns beyond the core ones: the split unit and what EDA reports.
EXTRA_COLUMNS = ("group", "duration_s", "sample_rate", "channels", "rms_db")
REJECTED_COLUMNS = ("path", "source", "reason", "detail")
KAGGLE_RATE = 22050  # the Kaggle tables' `length` column counts samples at this rate
# Clustering into genres and scoring on held-out tracks needs two genres in every split.
MIN_GENRES_PER_SPLIT = 2


@dataclass
class Prepared:
    """What ``prepare`` writes: the manifest, the rejections and, for a feature table, the
    table rows kept (track_id, segment_index, feature columns)."""

    manifest: pd.DataFrame
    rejected: pd.DataFrame
    table: pd.DataFrame | None = None


@dataclass
class _Scan:
    tracks: list[dict] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)

    def reject(self, path: str | Path, source: str, reason: str, detail: str) -> None:
        self.rejected.append({"path": str(path), "source": source, "reason": reason,
                              "detail": detail})


# --- audio trees ---------------------------------------------------------------------------


def genre_root(source: SourceConfig) -> Path:
    """The folder whose sub-folders are genres, found from what the user pointed at."""
    root = Path(source.root or "")
    if not root.is_dir():
        raise DataError(f"{root}: data root of source {source.name!r} is not a folder")
    candidates = {
        "gtzan": ("genres_original", "Data/genres_original", "genres"),
        "banglabeats": ("wavs3sec", "banglabeats3sec/wavs3sec"),
    }.get(source.name, ())
    for rel in candidates:
        if (root / rel).is_dir():
            return root / rel
    return root


@dataclass
class TreeWalk:
    """What :func:`walk_tree` found: the files to consider (sorted) and every entry left
    out as (path, reason, detail); ``folders`` maps each folder read, by real path, to the
    path it was read under."""

    root: Path
    files: list[Path] = field(default_factory=list)
    left_out: list[tuple[Path, str, str]] = field(default_factory=list)
    folders: dict[str, Path] = field(default_factory=dict)


def walk_tree(root: Path) -> TreeWalk:
    """Every file under ``root``, following symbolic links to folders once each.

    Nothing is dropped without a word: each entry not returned is in ``left_out`` with a
    reason: ``hidden`` (name starts with '.'; a hidden folder is not read), ``broken_link``,
    ``link_loop`` (a link to a folder above it, or to itself), ``linked_twice`` (a link to a
    folder read elsewhere in the tree), ``not_a_file`` (device, pipe, socket),
    ``unreadable`` and ``empty_folder``. Real folders are read before links to them, so a
    link never takes a folder's files from their own genre.
    """
    walk = TreeWalk(root, folders={os.path.realpath(root): root})
    links: list[Path] = []
    _read_folder(root, walk, links)
    while links:  # links found while reading the links' folders join the queue
        link = links.pop(0)
        real = os.path.realpath(link)
        if real in walk.folders:
            above = Path(os.path.realpath(link.parent)).is_relative_to(real)
            walk.left_out.append((link, "link_loop" if above else "linked_twice",
                                  f"links to {walk.folders[real]}, "
                                  + ("a folder above it" if above else "read there")))
            continue
        walk.folders[real] = link
        _read_folder(link, walk, links)
    walk.files.sort()
    return walk


def _read_folder(folder: Path, walk: TreeWalk, links: list[Path]) -> None:
    """Add ``folder``'s files to ``walk``, read its real sub-folders, queue its links."""
    try:
        entries = sorted(Path(e.path) for e in os.scandir(folder))
    except OSError as exc:
        walk.left_out.append((folder, "unreadable", f"cannot list the folder ({exc.strerror})"))
        return
    if not entries and walk.folders.get(os.path.realpath(folder)) != walk.root:
        walk.left_out.append((folder, "empty_folder", "holds no file"))
    for path in entries:
        kind, detail = _entry_kind(path)
        if kind == "file":
            walk.files.append(path)
        elif kind == "folder" and path.is_symlink():
            links.append(path)
        elif kind == "folder":
            walk.folders[os.path.realpath(path)] = path
            _read_folder(path, walk, links)
        else:
            walk.left_out.append((path, kind, detail))


def _entry_kind(path: Path) -> tuple[str, str]:
    """``file``, ``folder`` or the reason ``path`` is left out, with a detail."""
    if path.name.startswith("."):
        what = "folder, not read" if path.is_dir() else "file"
        return "hidden", f"hidden {what} (name starts with '.')"
    try:
        mode = path.stat().st_mode  # follows links
    except OSError as exc:
        if not path.is_symlink():
            return "unreadable", f"cannot read it ({exc.strerror})"
        if exc.errno == errno.ELOOP:
            return "link_loop", f"symbolic link that leads back to itself ({os.readlink(path)})"
        return "broken_link", f"symbolic link to {os.readlink(path)}, which does not exist"
    if stat.S_ISREG(mode):
        return "file", ""
    if stat.S_ISDIR(mode):
        return "folder", ""
    return "not_a_file", "neither a file nor a folder (a device, pipe or socket)"


def _probe_all(paths: Sequence[Path], min_seconds: float) -> list[AudioInfo | AudioError]:
    """Decode-check every file (threads: libsndfile releases the GIL)."""

    def probe(path: Path) -> AudioInfo | AudioError:
        try:
            return probe_audio(path, min_seconds=min_seconds)
        except AudioError as exc:
            return exc

    workers = min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(tqdm(pool.map(probe, paths), total=len(paths), desc="check audio",
                         unit="file"))


def scan_audio_source(
    source: SourceConfig, *, clip_pattern: str, clips_per_song: int, min_seconds: float
) -> _Scan:
    """Tracks of one audio source (without split) and the files it leaves out; banglabeats
    clips are grouped into songs (:func:`genrevae.data.clips.song_groups`)."""
    base = genre_root(source)
    scan = _Scan()
    candidates: list[tuple[Path, dict]] = []
    walk = walk_tree(base)
    for path, reason, detail in walk.left_out:
        scan.reject(path, source.name, reason, detail)
    for path in walk.files:
        rel = path.relative_to(base)
        if len(rel.parts) < 2:
            scan.reject(path, source.name, "unlabelled", "not inside a genre folder")
            continue
        if path.suffix.lower() not in AUDIO_EXTENSIONS:
            scan.reject(path, source.name, "not_audio",
                        f"extension {path.suffix or '(none)'} is not one of {AUDIO_EXTENSIONS}")
            continue
        genre = rel.parts[0]
        key = rel.with_suffix("").as_posix()
        track_id = path.stem if source.name == "gtzan" else key
        candidates.append((path, {
            "track_id": track_id, "path": path.as_posix(), "genre": genre,
            "language": source.language or "unknown", "source": source.name, "group": track_id,
            "_keys": (key, path.stem),
        }))
    if source.name == "banglabeats":
        songs = clips.song_groups([(row["genre"], path.stem) for path, row in candidates],
                                  clip_pattern=clip_pattern, clips_per_song=clips_per_song)
        for (_, row), song in zip(candidates, songs, strict=True):
            row["group"] = song
    for (path, row), info in zip(candidates, _probe_all([c[0] for c in candidates], min_seconds),
                                 strict=True):
        if isinstance(info, AudioError):
            scan.reject(path, source.name, info.reason, str(info))
            continue
        row.update(duration_s=info.duration_s, sample_rate=info.sample_rate,
                   channels=info.channels, rms_db=info.rms_db, _digest=info.digest)
        scan.tracks.append(row)
    log.info("%s: %d files used, %d left out%s (%d folders read under %s)", source.name,
             len(scan.tracks), len(scan.rejected),
             f": {_reason_summary(scan.rejected)}" if scan.rejected else "",
             len(walk.folders), base)
    _attach_lyrics(scan.tracks, source)
    return scan


def _attach_lyrics(tracks: list[dict], source: SourceConfig) -> None:
    if not source.lyrics:
        for t in tracks:
            t["lyrics"] = None
        return
    table = read_lyrics_table(source.lyrics)
    joined = join_lyrics(table, [t["_keys"] for t in tracks])
    for t, row in zip(tracks, joined.to_dict("records"), strict=True):
        t["lyrics"] = row["lyrics"]
        if _present(row.get("language")):
            t["language"] = row["language"]
        if _present(row.get("artist")):
            t["group"] = f"artist:{row['artist']}"  # split by artist where it is known
    log.info("lyrics: %d of %d %s tracks matched %s", int(joined["lyrics"].notna().sum()),
             len(tracks), source.name, source.lyrics)


def _present(value: object) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _drop_duplicates(tracks: list[dict], scan: _Scan) -> list[dict]:
    """Keep the first of files with identical bytes; reject the others."""
    first: dict[str, str] = {}
    kept = []
    for t in tracks:
        digest = t.pop("_digest", None)
        if digest is not None and digest in first:
            scan.reject(t["path"], t["source"], "duplicate", f"same bytes as {first[digest]}")
            continue
        if digest is not None:
            first[digest] = t["track_id"]
        kept.append(t)
    return kept


def _merge_genre(source: str, genre: str, genre_map: dict[str, str], several: bool) -> str:
    for key in (f"{source}:{genre}", genre):
        if key in genre_map:
            return genre_map[key]
    return f"{source}:{genre}" if several else genre


def build_audio_sources(cfg: DataConfig, *, seed: int, min_seconds: float) -> Prepared:
    sources = cfg.sources()
    several = len(sources) > 1
    scan = _Scan()
    for source in sources:
        part = scan_audio_source(source, clip_pattern=cfg.clip_pattern,
                                 clips_per_song=cfg.clips_per_song, min_seconds=min_seconds)
        scan.rejected += part.rejected
        if not part.tracks:
            raise DataError(
                f"{source.root}: source {source.name!r} has no usable track "
                f"({_reason_summary(part.rejected) or 'no files'})"
            )
        for t in part.tracks:
            t["genre"] = _merge_genre(source.name, t["genre"], cfg.genre_map, several)
            if several:
                t["track_id"] = f"{source.name}/{t['track_id']}"
                t["group"] = f"{source.name}/{t['group']}"
        scan.tracks += part.tracks
    tracks = _drop_duplicates(scan.tracks, scan)
    for t in tracks:
        t.pop("_keys", None)
    manifest = pd.DataFrame(tracks)
    if manifest["track_id"].duplicated().any():
        dup = manifest.loc[manifest["track_id"].duplicated(), "track_id"].head(3).tolist()
        raise DataError(f"track ids are not unique across the data root: {dup}")
    return Prepared(_with_splits(manifest, cfg, seed), _rejected_frame(scan.rejected))


# --- feature tables ------------------------------------------------------------------------

_SEGMENT_SUFFIX = re.compile(r"^(?P<track>.+\.\d+)\.(?P<segment>\d+)$")


def _table_track_ids(keys: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Track id and segment index per row: ``blues.00000.3`` is segment 3 of
    ``blues.00000`` (features_3_sec); ``blues.00000`` is one whole track (features_30_sec)."""
    parts = keys.str.extract(_SEGMENT_SUFFIX)
    is_segment = parts["track"].notna()
    if is_segment.all() and parts["track"].nunique() < len(keys):
        return parts["track"], parts["segment"].astype(int)
    return keys, pd.Series(0, index=keys.index)


def build_features_table(
    cfg: DataConfig, *, seed: int, feature_columns: Sequence[str]
) -> Prepared:
    path = Path(cfg.root or "")
    if not path.is_file():
        raise DataError(f"{path}: feature table not found")
    try:
        raw = pd.read_csv(path, encoding="utf-8-sig")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{path}: cannot read the feature table ({exc})") from exc
    needed = ["filename", cfg.label_column, *feature_columns]
    missing = [c for c in needed if c not in raw.columns]
    if missing:
        raise DataError(f"{path}: missing columns {missing[:8]}{' ...' if len(missing) > 8 else ''}")
    scan = _Scan()
    feats = raw[list(feature_columns)].apply(pd.to_numeric, errors="coerce")
    finite = np.isfinite(feats.to_numpy(dtype=float)).all(axis=1)
    label = raw[cfg.label_column].fillna("").astype(str).str.strip()
    usable = finite & (label != "") & (label.str.lower() != "nan")
    for i in np.flatnonzero(~usable):
        reason = "unlabelled" if finite[i] else "invalid_features"
        scan.reject(raw.at[i, "filename"], "features_table", reason,
                    "no label" if finite[i] else "non-numeric or missing feature values")
    dup = np.zeros(len(raw), dtype=bool)  # duplicates among usable rows only
    dup[usable] = feats[usable].duplicated(keep="first").to_numpy()
    for i in np.flatnonzero(dup):
        scan.reject(raw.at[i, "filename"], "features_table", "duplicate",
                    "identical feature values to an earlier row")
    keep = usable & ~dup
    if not keep.any():
        raise DataError(f"{path}: no usable row ({_reason_summary(scan.rejected)})")
    rows = raw[keep].reset_index(drop=True)
    keys = rows["filename"].astype(str).map(lambda f: normalise_key(f).rsplit("/", 1)[-1])
    track_id, segment = _table_track_ids(keys)
    table = pd.concat([pd.DataFrame({"track_id": track_id, "segment_index": segment}),
                       feats[keep].reset_index(drop=True)], axis=1)
    length = rows["length"] if "length" in rows else pd.Series(np.nan, index=rows.index)
    per_track = pd.DataFrame({"track_id": track_id, "genre": label[keep].to_numpy(),
                              "seconds": length / KAGGLE_RATE})
    manifest = per_track.groupby("track_id", sort=False).agg(
        genre=("genre", "first"), duration_s=("seconds", "sum")).reset_index()
    manifest = manifest.assign(
        path=path.as_posix(), language=cfg.language or "unknown", source="features_table",
        group=manifest["track_id"], sample_rate=KAGGLE_RATE, channels=1, rms_db=np.nan,
    )
    tracks = manifest.to_dict("records")
    for t in tracks:
        t["_keys"] = (t["track_id"],)
    _attach_lyrics(tracks, SourceConfig("features_table", cfg.root, cfg.lyrics, cfg.language))
    for t in tracks:
        t.pop("_keys")
    manifest = pd.DataFrame(tracks)
    log.info("feature table: %d rows -> %d tracks (%d rows left out)", len(table),
             len(manifest), len(scan.rejected))
    return Prepared(_with_splits(manifest, cfg, seed), _rejected_frame(scan.rejected), table)


# --- the embedded corpus -------------------------------------------------------------------


def build_synthetic(cfg: DataConfig, *, seed: int, corpus_dir: str | Path) -> Prepared:
    """Generate the embedded corpus as WAV files under ``corpus_dir/<genre>/``."""
    syn = cfg.synthetic
    if syn is None:
        raise ConfigError("data.synthetic: data=synthetic needs the generator settings")
    unknown = [g for g in syn.genres if g not in synthetic.STYLES]
    if unknown:
        raise ConfigError(f"data.synthetic.genres: no synthetic style for {unknown}; "
                          f"known: {sorted(synthetic.STYLES)}")
    bad_lang = [lang for lang in syn.languages if lang not in synthetic.COMMON_WORDS]
    if bad_lang:
        raise ConfigError(f"data.synthetic.languages: no vocabulary for {bad_lang}; "
                          f"known: {sorted(synthetic.COMMON_WORDS)}")
    corpus_dir = Path(corpus_dir)
    rows = []
    jobs = [(g, i) for g in syn.genres for i in range(syn.tracks_per_genre)]
    with atomic_dir(corpus_dir) as tmp:
        for genre, index in tqdm(jobs, desc="generate corpus", unit="track"):
            track = synthetic.generate_track(
                genre, index, languages=syn.languages, duration=syn.duration,
                sr=syn.sample_rate, instrumental_fraction=syn.instrumental_fraction, seed=seed,
            )
            rel = Path(genre) / f"{track.track_id}.wav"
            (tmp / genre).mkdir(exist_ok=True)
            sf.write(tmp / rel, track.audio, syn.sample_rate, subtype="PCM_16")
            rms = float(np.sqrt(np.mean(track.audio.astype(np.float64) ** 2)))
            rows.append({
                "track_id": track.track_id, "path": (corpus_dir / rel).as_posix(),
                "genre": track.genre, "language": track.language, "source": "synthetic",
                "lyrics": track.lyrics, "group": track.track_id,
                "duration_s": len(track.audio) / syn.sample_rate,
                "sample_rate": syn.sample_rate, "channels": 1,
                "rms_db": 20 * np.log10(rms + 1e-12),
            })
    manifest = pd.DataFrame(rows)
    log.info("synthetic corpus: %d tracks, %d genres, %d with lyrics", len(manifest),
             manifest["genre"].nunique(), manifest["lyrics"].notna().sum())
    return Prepared(_with_splits(manifest, cfg, seed), _rejected_frame([]))


# --- shared --------------------------------------------------------------------------------


def _with_splits(manifest: pd.DataFrame, cfg: DataConfig, seed: int) -> pd.DataFrame:
    manifest = manifest.copy()
    manifest["split"] = assign_splits(
        manifest["group"], manifest["genre"],
        fractions=(cfg.split.train, cfg.split.val, cfg.split.test), seed=seed,
    )
    _check_split_coverage(manifest)
    return manifest[[*MANIFEST_COLUMNS, *EXTRA_COLUMNS]]


def _check_split_coverage(manifest: pd.DataFrame) -> None:
    """Refuse, here rather than in a crash of a later stage, a corpus whose splits cannot
    each hold two genres (training validates on val, evaluation scores on test)."""
    per_split = strata_per_split(manifest["split"], manifest["genre"])
    short = [f"{split} {n}" for split, n in per_split.items() if n < MIN_GENRES_PER_SPLIT]
    if not short:
        return
    groups = manifest.groupby("genre")["group"].nunique().sort_values(ascending=False)
    enough = int((groups >= len(SPLITS)).sum())
    listed = ", ".join(f"{genre} {n}" for genre, n in groups.head(12).items())
    raise DataError(
        f"data: too few tracks to split and cluster: genres per split {', '.join(short)}, but "
        f"train, val and test each need at least {MIN_GENRES_PER_SPLIT}; a genre reaches all "
        f"three splits only with at least {len(SPLITS)} tracks (split groups: songs or "
        f"artists where known), so at least {MIN_GENRES_PER_SPLIT} genres need that many; "
        f"{enough} do (tracks per genre: {listed}{', ...' if len(groups) > 12 else ''})"
    )


def _rejected_frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(REJECTED_COLUMNS))


def _reason_summary(rows: list[dict]) -> str:
    counts = pd.Series([r["reason"] for r in rows]).value_counts()
    return ", ".join(f"{n} {reason}" for reason, n in counts.items())


def build_manifest(
    cfg: DataConfig, *, seed: int, corpus_dir: str | Path, min_seconds: float,
    feature_columns: Sequence[str],
) -> Prepared:
    """Read the configured source(s) into a manifest with splits; see :class:`Prepared`."""
    if cfg.name == "synthetic":
        prepared = build_synthetic(cfg, seed=seed, corpus_dir=corpus_dir)
    elif cfg.name == "features_table":
        prepared = build_features_table(cfg, seed=seed, feature_columns=feature_columns)
    else:
        prepared = build_audio_sources(cfg, seed=seed, min_seconds=min_seconds)
    if len(prepared.rejected):
        log.warning("left out %d files: %s (see rejected.csv)", len(prepared.rejected),
                    _reason_summary(prepared.rejected.to_dict("records")))
    return prepared
