"""Exploratory data analysis of a prepared corpus: PNG plots and a Markdown report.

Everything here reads the manifest (one row per track), the rejections, the segment
table, the handcrafted audio features and the lyrics table of the pipeline; nothing is fit.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import scipy.stats

from genrevae.io import atomic_path, has_lyrics
from genrevae.plots import save_figure

_WORD = re.compile(r"[\w\u0980-\u09FF]+")
# Characters a name may hold that would break a Markdown table: line breaks (a genre folder
# named with a newline would become two rows), other control characters, the cell
# separator and the escape character itself.
_MD_UNSAFE = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029|\\]")
_MD_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "|": "\\|", "\\": "\\\\"}


def md_text(value: object) -> object:
    """A text as it can stand in one Markdown table cell or line: line breaks and control
    characters written as escapes (``\\n``), ``|`` and ``\\`` escaped; other values as
    they are."""
    if not isinstance(value, str):
        return value
    return _MD_UNSAFE.sub(lambda m: _MD_NAMED.get(m.group(), f"\\u{ord(m.group()):04x}"), value)


def md_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every text cell and column name passed through :func:`md_text`."""
    out = frame.rename(columns=lambda c: md_text(str(c)))
    for column in out.columns[[out[c].dtype == object or isinstance(out[c].dtype, pd.StringDtype)
                               for c in out.columns]]:
        out[column] = out[column].map(md_text)
    return out


def _bar(series: pd.Series, path: Path, *, title: str, xlabel: str = "", ylabel: str = "count",
         stacked=None) -> None:
    fig, ax = plt.subplots(figsize=(max(5.0, 0.45 * len(series) + 2), 3.8))
    if stacked is not None:
        stacked.plot.bar(ax=ax, stacked=True, width=0.8)
        ax.legend(fontsize=8, frameon=False)
    else:
        series.plot.bar(ax=ax, width=0.8, color="tab:blue")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    save_figure(fig, path)


def _hist(values: pd.Series, path: Path, *, title: str, xlabel: str, by=None) -> None:
    fig, ax = plt.subplots(figsize=(6, 3.8))
    if by is None:
        ax.hist(values.dropna(), bins=30, color="tab:blue")
    else:
        for name, part in values.groupby(by):
            ax.hist(part.dropna(), bins=30, alpha=0.6, label=str(name))
        ax.legend(fontsize=8, frameon=False)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("tracks")
    save_figure(fig, path)


def lyrics_stats(manifest: pd.DataFrame) -> pd.DataFrame:
    """Per language: tracks, share without lyrics, median words per song, vocabulary size."""
    rows = []
    for language, part in manifest.groupby("language"):
        texts = [t for t in part["lyrics"] if has_lyrics(t)]
        words = [_WORD.findall(t.lower()) for t in texts]
        rows.append({
            "language": language,
            "tracks": len(part),
            "without_lyrics": 1.0 - len(texts) / len(part),
            "median_words": float(np.median([len(w) for w in words])) if words else 0.0,
            "vocabulary": len({w for ws in words for w in ws}),
        })
    return pd.DataFrame(rows)


# |skewness| above which a feature counts as heavy-tailed in the report (a log-normal with
# sigma 0.6 is about there; a Gaussian is 0).
HEAVY_SKEW = 2.0


def feature_shape(features: np.ndarray, columns: list[str], rows: np.ndarray) -> pd.DataFrame:
    """Shape of each handcrafted feature over the segments ``rows`` (a bool mask: the train
    split, what the fuse scalers see): skewness, excess kurtosis, min, median and max, most
    skewed first. A constant feature has skewness and kurtosis 0."""
    # rows first: a memory-mapped array is read for those rows only, then widened
    x = np.asarray(features)[np.asarray(rows, dtype=bool)].astype(np.float64)
    if len(x) == 0:
        return pd.DataFrame(columns=["feature", "skewness", "kurtosis", "min", "median", "max"])
    varying = np.ptp(x, axis=0) > 0
    skew, kurt = np.zeros(x.shape[1]), np.zeros(x.shape[1])
    skew[varying] = scipy.stats.skew(x[:, varying], axis=0)
    kurt[varying] = scipy.stats.kurtosis(x[:, varying], axis=0)
    frame = pd.DataFrame({"feature": columns, "skewness": skew, "kurtosis": kurt,
                          "min": x.min(axis=0), "median": np.median(x, axis=0),
                          "max": x.max(axis=0)})
    order = np.argsort(-np.abs(frame["skewness"].to_numpy()), kind="stable")
    return frame.iloc[order].reset_index(drop=True)


def write_eda(
    manifest: pd.DataFrame, rejected: pd.DataFrame, segments: pd.DataFrame,
    plots_dir: str | Path, report: str | Path, *,
    handcrafted: np.ndarray | None = None, columns: list[str] | None = None,
) -> list[Path]:
    """Draw every EDA plot into ``plots_dir`` and write the Markdown ``report``; returns
    the PNG paths. With ``handcrafted`` (one row per segment of ``segments``) and its
    ``columns``, the report and a plot also describe the features' shapes on the train
    segments."""
    out = Path(plots_dir)
    out.mkdir(parents=True, exist_ok=True)
    m = manifest.copy()
    m["has_lyrics"] = m["lyrics"].map(has_lyrics)
    per_genre = pd.crosstab(m["genre"], m["language"])
    seg_per_track = segments.groupby("track_id").size()
    lyr = lyrics_stats(m)
    pngs = {
        "tracks_per_genre": lambda p: _bar(per_genre.sum(axis=1), p, stacked=per_genre,
                                           title="Tracks per genre (by language)"),
        "tracks_per_language": lambda p: _bar(m["language"].value_counts(), p,
                                              title="Tracks per language"),
        "durations": lambda p: _hist(m["duration_s"], p, title="Track durations",
                                     xlabel="seconds"),
        "sample_rates": lambda p: _bar(m["sample_rate"].value_counts().sort_index(), p,
                                       title="Native sample rates", xlabel="Hz"),
        "loudness": lambda p: _hist(m["rms_db"], p, title="Loudness (RMS) by language",
                                    xlabel="dB FS", by=m["language"]),
        "segments_per_track": lambda p: _bar(seg_per_track.value_counts().sort_index(), p,
                                             title="Segments per track", xlabel="segments"),
        "lyrics_length": lambda p: _hist(
            m["lyrics"].map(lambda t: len(_WORD.findall(t)) if isinstance(t, str) else np.nan),
            p, title="Lyrics length by language", xlabel="words", by=m["language"]),
        "without_lyrics": lambda p: _bar(1 - m.groupby("genre")["has_lyrics"].mean(), p,
                                         title="Share of tracks without lyrics, per genre"),
        "rejected": lambda p: _bar(rejected["reason"].value_counts() if len(rejected)
                                   else pd.Series({"none": 0}), p,
                                   title="Files left out, by reason"),
    }
    shape = None
    if handcrafted is not None:
        if len(handcrafted) != len(segments):
            raise ValueError(f"{len(handcrafted)} feature rows for {len(segments)} segments")
        shape = feature_shape(handcrafted, list(columns or []),
                              (segments["split"] == "train").to_numpy())
        pngs["feature_skewness"] = lambda p: _bar(
            shape.set_index("feature")["skewness"].head(30), p, ylabel="skewness",
            title="Skewness of the audio features on the train segments (most skewed 30)")
    written = []
    for name, draw in pngs.items():
        path = out / f"{name}.png"
        draw(path)
        written.append(path)

    def table(frame: pd.DataFrame) -> str:
        return md_frame(frame).to_markdown(index=False, floatfmt=".3g") if len(frame) \
            else "_none_"

    lines = [
        "# Exploratory data analysis",
        "",
        f"{len(m)} tracks in {m['genre'].nunique()} genres and {m['language'].nunique()} "
        f"language(s) from {md_text(', '.join(sorted(m['source'].unique())))}; "
        f"{len(segments)} segments; "
        f"{len(rejected)} files left out.",
        "",
        "## Tracks per genre and language",
        table(per_genre.reset_index()),
        "",
        "## Splits",
        table(pd.crosstab(m["genre"], m["split"]).reset_index()),
        "",
        "## Audio",
        table(m[["duration_s", "sample_rate", "channels", "rms_db"]].describe()
              .T.reset_index().rename(columns={"index": "measure"})),
        "",
        *_features_section(shape, table),
        "## Lyrics per language",
        table(lyr),
        "",
        "## Files left out",
        table(rejected.head(100)),
        "",
        "## Plots",
        *[f"![{p.stem}]({os.path.relpath(p, Path(report).parent)})" for p in written],
        "",
    ]
    with atomic_path(report) as tmp:
        tmp.write_text("\n".join(lines), encoding="utf-8")
    return written


def _features_section(shape: pd.DataFrame | None, table) -> list[str]:
    """The report's lines on the handcrafted features' shapes (none without features)."""
    if shape is None:
        return []
    heavy = int((shape["skewness"].abs() > HEAVY_SKEW).sum())
    return [
        "## Audio features (train segments)",
        f"{heavy} of {len(shape)} handcrafted features have |skewness| > {HEAVY_SKEW:g} "
        "(heavy tails): after plain standardisation a few segments can dominate their "
        "distances. `fuse.audio_transform=yeo_johnson` bends each feature towards a "
        "Gaussian on the train split; whether that helps depends on the corpus "
        "(docs/models.md). The most skewed:",
        "",
        table(shape.head(10)),
        "",
    ]
