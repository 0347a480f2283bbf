"""Data sources: each turns a dataset, as users download it, into manifest rows (one per
track) and rejection rows (one per file left out, with its reason).

Readers: ``synthetic`` (the embedded corpus), ``gtzan`` (Kaggle ``Data/genres_original``
or the original ``genres/`` layout), ``banglabeats`` (the Kaggle 3-s clips, grouped back
into songs), ``folder`` (any ``<root>/<genre>/<files>`` tree) and ``features_table`` (a
Kaggle-format feature table used directly). Several audio sources can be read in one run.
"""

from __future__ import annotations

import io
import logging
import os
import re
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
from genrevae.data.lyrics import (
    join_lyrics,
    normalise_key,
    read_lyrics_table,
    read_metadata_table,
)
from genrevae.data.split_lists import RANDOM
from genrevae.data.splits import SplitLists, listed_first, read_split_lists, split_tracks
from genrevae.data.tree import walk_tree
from genrevae.errors import AudioError, ConfigError, DataError
from genrevae.io import MANIFEST_COLUMNS, atomic_dir, has_lyrics

log = logging.getLogger(__name__)

# Manifest columns beyond the core ones: the split unit and what EDA reports.
EXTRA_COLUMNS = ("group", "duration_s", "sample_rate", "channels", "rms_db")
REJECTED_COLUMNS = ("path", "source", "reason", "detail")
KAGGLE_RATE = 22050  # the Kaggle tables' `length` column counts samples at this rate


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
    _attach_tables(scan.tracks, source)
    return scan


def _attach_tables(tracks: list[dict], source: SourceConfig) -> None:
    """Join the source's lyrics and metadata tables to its tracks (by their ``_keys``)."""
    for t in tracks:
        t["lyrics"] = None
    if source.lyrics:
        joined = join_lyrics(read_lyrics_table(source.lyrics), [t["_keys"] for t in tracks])
        for t, row in zip(tracks, joined.to_dict("records"), strict=True):
            t["lyrics"] = row["lyrics"]
            _take_facts(t, row)
        log.info("lyrics: %d of %d %s tracks matched %s", int(joined["lyrics"].map(has_lyrics).sum()),
                 len(tracks), source.name, source.lyrics)
    if source.metadata:
        # A column named like one the program makes (genre, path, _digest...) comes back
        # renamed: the folder, not a table, says what a track is.
        table = read_metadata_table(source.metadata, reserved=_OWN_COLUMNS)
        joined = join_lyrics(table, [t["_keys"] for t in tracks])
        extras = [c for c in joined.columns if c not in ("key", "artist", "language")]
        for t, row in zip(tracks, joined.to_dict("records"), strict=True):
            _take_facts(t, row)  # after the lyrics table's: the metadata table wins
            for column in extras:
                t[column] = row[column]
        matched = int(joined["key"].notna().sum())
        log.info("metadata: %d of %d %s tracks matched %s (columns kept: %s)", matched,
                 len(tracks), source.name, source.metadata, ", ".join(extras) or "none")


# Columns the program makes in the manifest or joins to it later (evaluate merges the
# lyrics stage's has_lyrics and n_words, extraction the segment columns).
_OWN_COLUMNS = frozenset(MANIFEST_COLUMNS) | frozenset(EXTRA_COLUMNS) | {
    "artist", "has_lyrics", "n_words", "segment_index", "offset_s"}


def _take_facts(track: dict, row: dict) -> None:
    if _present(row.get("language")):
        track["language"] = row["language"]
    if _present(row.get("artist")):
        track["artist"] = row["artist"]
        track["group"] = f"artist:{row['artist']}"  # split by artist where it is known


def _present(value: object) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _split_lists(cfg: DataConfig) -> SplitLists | None:
    """The lists of a listed data.split, read once per run; None for a random split."""
    return None if cfg.split == RANDOM else read_split_lists(cfg.split)


def _drop_duplicates(tracks: list[dict], scan: _Scan, lists: SplitLists | None) -> list[dict]:
    """Keep one of files with identical bytes (the first, or the one ``lists`` name);
    reject the others."""
    order = listed_first(lists, [t["_keys"] if t["_main"] else () for t in tracks])
    first: dict[str, str] = {}
    dropped = set()
    for i in order:
        t = tracks[i]
        digest = t.pop("_digest", None)
        if digest is not None and digest in first:
            scan.reject(t["path"], t["source"], "duplicate", f"same bytes as {first[digest]}")
            dropped.add(i)
        elif digest is not None:
            first[digest] = t["track_id"]
    return [t for i, t in enumerate(tracks) if i not in dropped]


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
            t["_main"] = source is sources[0]  # a split list names the main source's tracks
            t["genre"] = _merge_genre(source.name, t["genre"], cfg.genre_map, several)
            if several:
                t["track_id"] = f"{source.name}/{t['track_id']}"
                t["group"] = f"{source.name}/{t['group']}"
        scan.tracks += part.tracks
    lists = _split_lists(cfg)
    tracks = _drop_duplicates(scan.tracks, scan, lists)
    manifest = pd.DataFrame(tracks)
    if manifest["track_id"].duplicated().any():
        dup = manifest.loc[manifest["track_id"].duplicated(), "track_id"].head(3).tolist()
        raise DataError(f"track ids are not unique across the data root: {dup}")
    return Prepared(_with_splits(manifest, cfg, seed, scan, lists),
                    _rejected_frame(scan.rejected))


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


def _check_unique_names(path: Path, names: pd.Series, stems: pd.Series) -> None:
    """Refuse a table that names one file twice: its rows would merge into one track of
    several segments numbered alike, under one row's label. Names compare as files are
    matched (case, extension and folders aside)."""
    named = stems[stems != ""]
    repeated = named[named.duplicated(keep=False)]
    if repeated.empty:
        return
    groups = [rows for _, rows in repeated.groupby(repeated, sort=False)]
    shown = "; ".join(
        " and ".join(f"{names[i]!r} (row {i + 2})" for i in rows.index[:4])
        + (" ..." if len(rows) > 4 else "") for rows in groups[:3])
    more = f"; {len(groups) - 3} more names" if len(groups) > 3 else ""
    raise DataError(f"{path}: {len(groups)} file name(s) appear on several rows (names compare "
                    f"without case or extension; row 1 is the header): {shown}{more}; "
                    "keep one row per file")


def build_features_table(
    cfg: DataConfig, *, seed: int, feature_columns: Sequence[str]
) -> Prepared:
    path = Path(cfg.root or "")
    if not path.is_file():
        raise DataError(f"{path}: feature table not found")
    try:
        # Names and labels stay text: labels 0/1/2 are genres, `001` is not `1`, and only
        # an empty cell is missing (a genre "NA" is a genre).
        raw = pd.read_csv(path, encoding="utf-8-sig", keep_default_na=False, na_values=[""],
                          dtype={"filename": str, cfg.label_column: str})
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{path}: cannot read the feature table ({exc})") from exc
    needed = ["filename", cfg.label_column, *feature_columns]
    missing = [c for c in needed if c not in raw.columns]
    if missing:
        raise DataError(f"{path}: missing columns {missing[:8]}{' ...' if len(missing) > 8 else ''}")
    raw["filename"] = raw["filename"].fillna("").astype(str)
    stems = raw["filename"].map(lambda f: normalise_key(f).rsplit("/", 1)[-1])
    _check_unique_names(path, raw["filename"], stems)
    scan = _Scan()
    feats = raw[list(feature_columns)].apply(pd.to_numeric, errors="coerce")
    finite = np.isfinite(feats.to_numpy(dtype=float)).all(axis=1)
    label = raw[cfg.label_column].fillna("").astype(str).str.strip()
    named = (stems != "").to_numpy()
    usable = finite & named & (label != "") & (label.str.lower() != "nan")
    for i in np.flatnonzero(~usable):
        reason = "invalid_features" if not finite[i] else "unlabelled"
        detail = ("non-numeric or missing feature values" if not finite[i]
                  else "no file name" if not named[i] else "no label")
        scan.reject(raw.at[i, "filename"], "features_table", reason, detail)
    dup = np.zeros(len(raw), dtype=bool)  # duplicates among usable rows only
    order = np.flatnonzero(usable)
    lists = _split_lists(cfg)
    order = order[listed_first(lists, [(stems[i],) for i in order])]
    dup[order] = feats.iloc[order].duplicated(keep="first").to_numpy()
    for i in np.flatnonzero(dup):
        scan.reject(raw.at[i, "filename"], "features_table", "duplicate",
                    "identical feature values to an earlier row")
    keep = usable & ~dup
    if not keep.any():
        raise DataError(f"{path}: no usable row ({_reason_summary(scan.rejected)})")
    rows = raw[keep].reset_index(drop=True)
    keys = stems[keep].reset_index(drop=True)
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
    _attach_tables(tracks, cfg.sources()[0])
    manifest = pd.DataFrame(tracks)
    log.info("feature table: %d rows -> %d tracks (%d rows left out)", len(table),
             len(manifest), len(scan.rejected))
    manifest = _with_splits(manifest, cfg, seed, scan, lists)
    # A track left out by the split leaves the table too.
    table = table[table["track_id"].isin(set(manifest["track_id"]))].reset_index(drop=True)
    return Prepared(manifest, _rejected_frame(scan.rejected), table)


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
            # Encoded in memory, written by Python: libsndfile reports a full disk only
            # as "System error", Python as the OSError it is.
            wav = io.BytesIO()
            sf.write(wav, track.audio, syn.sample_rate, format="WAV", subtype="PCM_16")
            (tmp / rel).write_bytes(wav.getvalue())
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
             manifest["genre"].nunique(), manifest["lyrics"].map(has_lyrics).sum())
    return Prepared(_with_splits(manifest, cfg, seed, _Scan(), None), _rejected_frame([]))


# --- shared --------------------------------------------------------------------------------


def _with_splits(manifest: pd.DataFrame, cfg: DataConfig, seed: int, scan: _Scan,
                 lists: SplitLists | None) -> pd.DataFrame:
    """The manifest with its split (tracks ``lists`` leave out go to ``scan``), columns
    in order: the core ones, what EDA reports, then any kept from a metadata table."""
    keys = manifest["_keys"].tolist() if "_keys" in manifest else \
        [(t,) for t in manifest["track_id"]]
    main = manifest["_main"].to_numpy(dtype=bool) if "_main" in manifest else None
    f = cfg.fractions
    manifest, rejected = split_tracks(
        manifest.drop(columns=["_keys", "_main"], errors="ignore"), keys, lists=lists,
        fractions=(f.train, f.val, f.test), seed=seed, main=main, left_out=scan.rejected)
    scan.rejected += rejected
    core = [*MANIFEST_COLUMNS, *EXTRA_COLUMNS]
    return manifest[[*core, *(c for c in manifest.columns if c not in core)]]


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
