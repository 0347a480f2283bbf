"""Every figure: a function from arrays to a PNG file (written atomically)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from genrevae.io import atomic_path


def save_figure(fig: plt.Figure, path: str | Path) -> None:
    """Write ``fig`` as a PNG (atomically) and close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def loss_curves(history: Sequence[dict[str, float]], path: str | Path, *, best_epoch: int) -> None:
    """Train and validation loss, reconstruction and KL per epoch."""
    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, key in zip(axes, ("loss", "recon", "kl"), strict=True):
        ax.plot(epochs, [h[f"train_{key}"] for h in history], label="train")
        ax.plot(epochs, [h[f"val_{key}"] for h in history], label="validation")
        ax.axvline(best_epoch, color="grey", ls=":", lw=1, label=f"best ({best_epoch})")
        ax.set_title({"loss": "ELBO loss", "recon": "reconstruction", "kl": "KL"}[key])
        ax.set_xlabel("epoch")
    axes[0].legend()
    save_figure(fig, path)


def scatter_2d(
    points: np.ndarray, labels: Sequence[str], path: str | Path, *, title: str
) -> None:
    """2-D embedding coloured by a categorical label."""
    labels = np.asarray(labels, dtype=object)
    names = sorted(set(labels))
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    for i, name in enumerate(names):
        sel = labels == name
        ax.scatter(points[sel, 0], points[sel, 1], s=8, alpha=0.75, color=cmap(i % cmap.N),
                   label=str(name))
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(markerscale=2, fontsize=8, loc="best", frameon=False)
    save_figure(fig, path)


def contingency_heatmap(
    clusters: np.ndarray, truth: Sequence[str], path: str | Path, *, title: str
) -> None:
    """Rows: true genres; columns: clusters (-1 is DBSCAN noise); cells: segment counts."""
    truth = np.asarray(truth, dtype=object)
    rows = sorted(set(truth))
    cols = sorted(set(int(c) for c in clusters))
    table = np.array([[np.sum((truth == r) & (clusters == c)) for c in cols] for r in rows])
    fig, ax = plt.subplots(figsize=(1.2 + 0.55 * len(cols), 1.0 + 0.45 * len(rows)))
    _count_heatmap(fig, ax, table)
    ax.set_xticks(range(len(cols)), [("noise" if c == -1 else str(c)) for c in cols])
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel("cluster")
    ax.set_title(title)
    save_figure(fig, path)


def _count_heatmap(fig: plt.Figure, ax: plt.Axes, table: np.ndarray) -> None:
    """A table of counts as a blue heatmap with the non-zero counts written in."""
    im = ax.imshow(table, cmap="Blues", aspect="auto")
    for (i, j), v in np.ndenumerate(table):
        if v:
            ax.text(j, i, str(v), ha="center", va="center", fontsize=7,
                    color="white" if v > table.max() / 2 else "black")
    fig.colorbar(im, ax=ax, fraction=0.04)


def reconstructions(
    originals: np.ndarray, recons: np.ndarray, names: Sequence[str], path: str | Path
) -> None:
    """Input feature vectors against their reconstructions, one panel per example."""
    n = len(originals)
    fig, axes = plt.subplots(n, 1, figsize=(11, 2.2 * max(n, 1)), squeeze=False)
    for ax, x, r, name in zip(axes[:, 0], originals, recons, names, strict=True):
        ax.plot(x, lw=1, label="input")
        ax.plot(r, lw=1, label="reconstruction")
        ax.set_title(name, fontsize=9)
        ax.set_ylabel("std. units")
    axes[0, 0].legend(fontsize=8)
    axes[-1, 0].set_xlabel("feature index")
    save_figure(fig, path)


def confusion(matrix: np.ndarray, classes: Sequence[str], path: str | Path, *, title: str) -> None:
    """Rows: true class; columns: predicted class; cells: counts."""
    n = len(classes)
    fig, ax = plt.subplots(figsize=(1.5 + 0.5 * n, 1.2 + 0.45 * n))
    _count_heatmap(fig, ax, matrix)
    ax.set_xticks(range(n), classes, rotation=45, ha="right")
    ax.set_yticks(range(n), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    save_figure(fig, path)


def mel_reconstructions(
    originals: np.ndarray, recons: np.ndarray, names: Sequence[str], path: str | Path
) -> None:
    """Standardised log-mel segments (n, n_mels, frames) beside their reconstructions."""
    n = len(originals)
    fig, axes = plt.subplots(n, 2, figsize=(9, 2.4 * max(n, 1)), squeeze=False)
    lim = float(np.percentile(np.abs(originals), 99)) if n else 1.0
    for row, (x, r, name) in enumerate(zip(originals, recons, names, strict=True)):
        for col, (img, what) in enumerate(((x, "input"), (r, "reconstruction"))):
            ax = axes[row, col]
            ax.imshow(img, origin="lower", aspect="auto", cmap="magma", vmin=-lim, vmax=lim)
            ax.set_title(f"{name}: {what}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    save_figure(fig, path)


def traversal(
    dims: Sequence[int], offsets: np.ndarray, decoded: np.ndarray, path: str | Path
) -> None:
    """Decoded outputs along latent dimensions: curves for feature vectors (one colour per
    offset), spectrogram images for log-mel outputs."""
    is_image = decoded.ndim == 4
    n, steps = decoded.shape[:2]
    if is_image:
        fig, axes = plt.subplots(n, steps, figsize=(1.6 * steps, 1.6 * n), squeeze=False)
        for i in range(n):
            for j in range(steps):
                ax = axes[i, j]
                ax.imshow(decoded[i, j], origin="lower", aspect="auto", cmap="magma")
                ax.set_xticks([])
                ax.set_yticks([])
                if i == 0:
                    ax.set_title(f"{offsets[j]:+.1f} sd", fontsize=8)
            axes[i, 0].set_ylabel(f"z{dims[i]}", fontsize=8)
    else:
        fig, axes = plt.subplots(n, 1, figsize=(10, 2.2 * n), squeeze=False)
        cmap = plt.get_cmap("coolwarm")
        for i in range(n):
            ax = axes[i, 0]
            for j in range(steps):
                ax.plot(decoded[i, j], color=cmap(j / max(steps - 1, 1)), lw=0.9,
                        label=f"{offsets[j]:+.1f} sd")
            ax.set_title(f"latent dimension z{dims[i]}", fontsize=9)
        axes[0, 0].legend(fontsize=7, ncol=steps, frameon=False)
        axes[-1, 0].set_xlabel("feature index")
    save_figure(fig, path)


def paired_bars(
    names: Sequence[str],
    panels: Sequence[tuple[str, Sequence[float | None], Sequence[float | None]]],
    path: str | Path,
    *,
    labels: tuple[str, str],
) -> None:
    """One panel per (title, values, reference values): for each name a bar and, beside it,
    a hatched bar of its reference; missing values are left out."""
    x = np.arange(len(names))
    width = 0.38
    fig, axes = plt.subplots(1, len(panels), figsize=(max(7.0, 1.1 * len(names) + 2) * len(panels)
                                                      / 2, 4.2), squeeze=False)
    for ax, (title, values, reference) in zip(axes[0], panels, strict=True):
        for offset, series, label, hatch in ((-width / 2, values, labels[0], None),
                                             (width / 2, reference, labels[1], "//")):
            heights = np.array([np.nan if v is None else float(v) for v in series])
            bars = ax.bar(x + offset, np.nan_to_num(heights), width, label=label, hatch=hatch,
                          color="tab:blue" if hatch is None else "white", edgecolor="tab:blue")
            for bar, h in zip(bars, heights, strict=True):
                if np.isfinite(h):
                    ax.annotate(f"{h:.2f}", (bar.get_x() + bar.get_width() / 2, h),
                                ha="center", va="bottom", fontsize=7)
        ax.set_title(title, fontsize=10)
        ax.set_xticks(x, names, rotation=30, ha="right", fontsize=8)
        ax.set_ylim(min(0.0, ax.get_ylim()[0]), max(1.05, ax.get_ylim()[1]))
    handles, names_ = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, names_, loc="upper center", ncol=2, fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, 1.06))
    save_figure(fig, path)
