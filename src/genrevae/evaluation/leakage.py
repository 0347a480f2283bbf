"""What the lyrics give away on their own, apart from any model.

A model fed lyrics (``model.input`` lyrics or hybrid) can score against genre or language
without learning anything about the music; these numbers say how far the text alone goes,
so the latent's scores can be read against them:

- :func:`lyrics_leakage`: how well the bare fact "has lyrics" predicts language or source;
- :func:`lyrics_probe`: how well a linear probe on the lyrics embedding predicts genre and
  language on test tracks, beside the majority class;
- :func:`lyrics_probe_within`: the same for genre inside each language, for where the two
  go together: lyrics in another language name a genre the language names as well, and
  only what they tell apart within one language is about the songs' genre.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from genrevae.evaluation.metrics import has_lyrics_leakage
from genrevae.evaluation.probe import linear_probe

log = logging.getLogger(__name__)

PROBE_TARGETS = ("genre", "language")
# The key of the probe inside each language in the report's ``lyrics_probe`` section.
WITHIN_LANGUAGE = "genre_within_language"


def lyrics_leakage(tracks: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per label (``language``, ``source``) with two or more values among ``tracks``, how
    well ``has_lyrics`` alone predicts it; warns when the rule clearly beats the majority."""
    out = {}
    for label in ("language", "source"):
        if tracks[label].nunique() < 2 or tracks["has_lyrics"].nunique() < 2:
            continue
        out[label] = has_lyrics_leakage(tracks["has_lyrics"].to_numpy(), tracks[label].to_numpy())
        if out[label]["rule_accuracy"] > out[label]["majority_accuracy"] + 0.1:
            log.warning("'has lyrics' alone predicts %s (%.0f%% vs %.0f%% majority): scores "
                        "against %s partly reflect which tracks have lyrics", label,
                        100 * out[label]["rule_accuracy"], 100 * out[label]["majority_accuracy"],
                        label)
    return out


def lyrics_probe(
    embedding: np.ndarray,
    has_lyrics: np.ndarray,
    labels: Mapping[str, np.ndarray],
    split: np.ndarray,
    track_ids: np.ndarray,
    *,
    seed: int,
) -> dict[str, dict[str, float | int] | None]:
    """Per target in ``labels``: the test accuracy of a linear probe (scaler + logistic
    regression, fit on train tracks: :func:`genrevae.evaluation.probe.linear_probe`, one row
    per track) on the lyrics embedding of the tracks that have lyrics.

    ``embedding`` (n_tracks, dim; NaN rows without lyrics), ``has_lyrics``, ``split``,
    ``track_ids`` and each label array (n_tracks,) are aligned row for row. Each entry holds
    ``accuracy``, ``majority_accuracy`` (always predicting the most common train label, on
    the same test tracks), ``n_train`` and ``n_test``; None for a target with fewer than two
    classes among the train or the test tracks with lyrics (no probe to speak of).
    """
    embedding = np.asarray(embedding, dtype=np.float64)
    rows = _with_lyrics(embedding, has_lyrics)
    split = np.asarray(split)[rows]
    train, test = split == "train", split == "test"
    out: dict[str, dict[str, float | int] | None] = {}
    for target, values in labels.items():
        y = np.asarray(values, dtype=object)[rows]
        if len(set(y[train])) < 2 or len(set(y[test])) < 2:
            out[target] = None
            log.info("lyrics alone vs %s: not probed (%d train, %d test tracks with lyrics; "
                     "each needs two classes)", target, int(train.sum()), int(test.sum()))
            continue
        probe = linear_probe(embedding[rows], y, split, np.asarray(track_ids)[rows], seed=seed)
        majority = _most_common(y[train].astype(str))
        out[target] = {
            # One row per track: the probe's segment and track accuracies coincide.
            "accuracy": probe.metrics["track_accuracy"],
            "majority_accuracy": float(np.mean(y[test].astype(str) == majority)),
            "n_train": int(train.sum()),
            "n_test": int(test.sum()),
        }
        log.info("lyrics alone predict %s: %.3f test accuracy (majority class %.3f, %d test "
                 "tracks)", target, out[target]["accuracy"], out[target]["majority_accuracy"],
                 out[target]["n_test"])
    return out


def lyrics_probe_within(
    embedding: np.ndarray,
    has_lyrics: np.ndarray,
    labels: np.ndarray,
    groups: np.ndarray,
    split: np.ndarray,
    track_ids: np.ndarray,
    *,
    seed: int,
) -> dict[str, float | int] | None:
    """:func:`lyrics_probe` for ``labels`` inside each value of ``groups`` (language): a
    probe per group, fit on that group's train tracks with lyrics and scored on its test
    tracks, the accuracies pooled over the test tracks of every group.

    Beside it, ``majority_accuracy``: each group's most common train label, pooled the same
    way, which is what the group alone (the language) tells. A group with one label among
    its train tracks predicts that label; a group with no train tracks is left out
    (``n_test`` counts the test tracks scored). None where fewer than two groups have both
    train and test tracks: the probe would be :func:`lyrics_probe`'s.
    """
    embedding = np.asarray(embedding, dtype=np.float64)
    rows = _with_lyrics(embedding, has_lyrics)
    split, labels = np.asarray(split)[rows], np.asarray(labels, dtype=object)[rows].astype(str)
    groups, ids = np.asarray(groups, dtype=object)[rows].astype(str), np.asarray(track_ids)[rows]
    embedding = embedding[rows]
    correct = majority_correct = n_train = n_test = scored = 0
    for group in sorted(set(groups)):
        mine = groups == group
        train, test = mine & (split == "train"), mine & (split == "test")
        if not train.any() or not test.any():
            continue
        majority = _most_common(labels[train])
        majority_correct += int(np.sum(labels[test] == majority))
        if len(set(labels[train])) < 2:
            correct += int(np.sum(labels[test] == majority))
        else:
            probe = linear_probe(embedding[mine], labels[mine], split[mine], ids[mine],
                                 seed=seed)
            correct += round(probe.metrics["track_accuracy"] * int(test.sum()))
        n_train, n_test, scored = n_train + int(train.sum()), n_test + int(test.sum()), scored + 1
    if scored < 2:
        log.info("lyrics alone vs genre within language: not probed (%d language(s) with "
                 "train and test tracks with lyrics)", scored)
        return None
    out = {"accuracy": correct / n_test, "majority_accuracy": majority_correct / n_test,
           "n_train": n_train, "n_test": n_test, "n_groups": scored}
    log.info("lyrics alone predict genre within each language: %.3f test accuracy (each "
             "language's most common genre %.3f, %d test tracks in %d languages)",
             out["accuracy"], out["majority_accuracy"], n_test, scored)
    return out


def _with_lyrics(embedding: np.ndarray, has_lyrics: np.ndarray) -> np.ndarray:
    """The rows a lyrics probe reads: tracks with lyrics and a finite embedding."""
    return np.asarray(has_lyrics, dtype=bool) & np.all(np.isfinite(embedding), axis=1)


def _most_common(labels: np.ndarray) -> str:
    """The most common of ``labels`` (str), the first in sorted order on a tie."""
    classes, counts = np.unique(labels, return_counts=True)
    return classes[np.argmax(counts)]
