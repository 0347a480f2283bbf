"""The EDA report: the handcrafted features' shapes on the train segments, and the report
and plots written with and without them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from genrevae.eda import HEAVY_SKEW, feature_shape, write_eda


def _corpus(rng: np.random.Generator, n_tracks: int = 12, segs: int = 4):
    """A manifest, an empty rejection table, a segment table (8 train tracks) and features:
    a log-normal (heavy-tailed), a Gaussian, a constant and a left-skewed column."""
    ids = [f"t{i}" for i in range(n_tracks)]
    split = ["train"] * 8 + ["val"] * 2 + ["test"] * (n_tracks - 10)
    manifest = pd.DataFrame({
        "track_id": ids, "genre": ["rock", "jazz"] * (n_tracks // 2),
        "language": "english", "source": "synthetic", "split": split,
        "duration_s": 30.0, "sample_rate": 22050, "channels": 1, "rms_db": -20.0,
        "lyrics": "la la la"})
    segments = pd.DataFrame({"track_id": np.repeat(ids, segs),
                             "segment_index": np.tile(np.arange(segs), n_tracks),
                             "split": np.repeat(split, segs)})
    n = len(segments)
    features = np.column_stack([rng.lognormal(0, 1.5, n), rng.normal(size=n), np.full(n, 3.0),
                                -rng.exponential(size=n) * 4])
    rejected = pd.DataFrame(columns=["path", "source", "reason", "detail"])
    return manifest, rejected, segments, features, ["rms_var", "mfcc1_mean", "flat", "left"]


def test_feature_shape_ranks_by_skewness_on_the_given_rows(rng):
    """The table holds each feature's skewness (as SciPy computes it) over the train rows
    only, most skewed first by magnitude; a constant feature scores 0, not NaN."""
    _, _, segments, features, columns = _corpus(rng)
    train = (segments["split"] == "train").to_numpy()
    features[~train, 1] = 1e6  # far-off test rows must not enter the figures
    shape = feature_shape(features, columns, train)
    assert shape["feature"].iloc[0] == "rms_var"
    assert shape["feature"].iloc[-1] == "flat"
    row = shape.set_index("feature")
    np.testing.assert_allclose(row.loc["rms_var", "skewness"],
                               scipy.stats.skew(features[train, 0]))
    assert row.loc["left", "skewness"] < -1.0
    assert (row.loc["flat", "skewness"], row.loc["flat", "kurtosis"]) == (0.0, 0.0)
    assert row.loc["mfcc1_mean", "max"] < 1e6
    assert np.all(np.isfinite(shape[["skewness", "kurtosis"]].to_numpy()))


def test_feature_shape_of_no_rows_is_an_empty_table(rng):
    _, _, _, features, columns = _corpus(rng)
    assert feature_shape(features, columns, np.zeros(len(features), dtype=bool)).empty


def test_report_refuses_features_not_aligned_with_the_segments(tmp_path, rng):
    manifest, rejected, segments, features, columns = _corpus(rng)
    with pytest.raises(ValueError, match="47 feature rows for 48 segments"):
        write_eda(manifest, rejected, segments, tmp_path / "plots", tmp_path / "eda.md",
                  handcrafted=features[:-1], columns=columns)


@pytest.mark.parametrize("with_features", [True, False])
def test_report_describes_the_features_when_given(tmp_path, rng, with_features):
    """With the features, the report gains a section counting the heavy-tailed ones and
    naming the most skewed, and a skewness plot is drawn; without them neither appears."""
    manifest, rejected, segments, features, columns = _corpus(rng)
    extra = {"handcrafted": features, "columns": columns} if with_features else {}
    pngs = write_eda(manifest, rejected, segments, tmp_path / "plots", tmp_path / "eda.md",
                     **extra)
    report = (tmp_path / "eda.md").read_text()
    names = {p.name for p in pngs}
    assert all(p.stat().st_size > 0 for p in pngs)
    if with_features:
        train = (segments["split"] == "train").to_numpy()
        varying = features[train][:, [0, 1, 3]]  # the constant column has no skew
        heavy = int((np.abs(scipy.stats.skew(varying, axis=0)) > HEAVY_SKEW).sum())
        assert heavy >= 1
        assert f"{heavy} of 4 handcrafted features have |skewness| > 2" in report
        assert "| rms_var" in report and "fuse.audio_transform=yeo_johnson" in report
        assert "feature_skewness.png" in names
    else:
        assert "Audio features" not in report and "feature_skewness.png" not in names
