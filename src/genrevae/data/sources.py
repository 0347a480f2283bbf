"""Data sources: each turns its input into manifest rows (one per track).

Only the embedded ``synthetic`` corpus exists so far; real datasets plug in here.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import soundfile as sf
from tqdm import tqdm

from genrevae.config import DataConfig
from genrevae.data import synthetic
from genrevae.data.splits import assign_splits
from genrevae.errors import ConfigError
from genrevae.io import MANIFEST_COLUMNS, atomic_dir

log = logging.getLogger(__name__)


def build_synthetic(cfg: DataConfig, *, seed: int, corpus_dir: str | Path) -> pd.DataFrame:
    """Generate the embedded corpus as WAV files under ``corpus_dir/<genre>/`` and return
    its manifest (paths relative to the project root, as given by ``corpus_dir``)."""
    unknown = [g for g in cfg.genres if g not in synthetic.STYLES]
    if unknown:
        raise ConfigError(
            f"data.genres: no synthetic style for {unknown}; known: {sorted(synthetic.STYLES)}"
        )
    bad_lang = [lang for lang in cfg.languages if lang not in synthetic.COMMON_WORDS]
    if bad_lang:
        raise ConfigError(
            f"data.languages: no vocabulary for {bad_lang}; known: {sorted(synthetic.COMMON_WORDS)}"
        )
    corpus_dir = Path(corpus_dir)
    rows = []
    jobs = [(g, i) for g in cfg.genres for i in range(cfg.tracks_per_genre)]
    with atomic_dir(corpus_dir) as tmp:
        for genre, index in tqdm(jobs, desc="generate corpus", unit="track"):
            track = synthetic.generate_track(
                genre, index, languages=cfg.languages,
                duration=cfg.duration, sr=cfg.sample_rate,
                instrumental_fraction=cfg.instrumental_fraction, seed=seed,
            )
            rel = Path(genre) / f"{track.track_id}.wav"
            (tmp / genre).mkdir(exist_ok=True)
            sf.write(tmp / rel, track.audio, cfg.sample_rate, subtype="PCM_16")
            rows.append({
                "track_id": track.track_id,
                "path": (corpus_dir / rel).as_posix(),
                "genre": track.genre,
                "language": track.language,
                "source": "synthetic",
                "lyrics": track.lyrics,
            })
    manifest = pd.DataFrame(rows)
    manifest["split"] = assign_splits(
        manifest["track_id"], manifest["genre"],
        fractions=(cfg.split.train, cfg.split.val, cfg.split.test), seed=seed,
    )
    log.info(
        "synthetic corpus: %d tracks, %d genres, %d with lyrics",
        len(manifest), manifest["genre"].nunique(), manifest["lyrics"].notna().sum(),
    )
    return manifest[list(MANIFEST_COLUMNS)]


def build_manifest(cfg: DataConfig, *, seed: int, corpus_dir: str | Path) -> pd.DataFrame:
    if cfg.name == "synthetic":
        return build_synthetic(cfg, seed=seed, corpus_dir=corpus_dir)
    raise ConfigError(f"data.name: unknown source {cfg.name!r}")
