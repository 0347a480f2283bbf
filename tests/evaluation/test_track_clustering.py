"""Track level: track means, K-Means on them, the majority of segment clusters, and the
scores of both with the segment table's metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genrevae.errors import ArtifactError
from genrevae.evaluation.clustering import cluster, cluster_tracks, majority_clusters, track_means
from genrevae.evaluation.metrics import METHODS, SCOPES, clustering_report, evaluate_tracks
from genrevae.evaluation.report import evaluate_assignments


def test_track_means_are_per_track_and_ignore_row_order(rng: np.random.Generator) -> None:
    x = rng.normal(size=(7, 3))
    tracks = np.array(["b", "a", "b", "c", "a", "a", "b"])
    ids, means = track_means(x, tracks)
    assert ids.tolist() == ["a", "b", "c"] and means.shape == (3, 3)
    np.testing.assert_allclose(means[0], x[[1, 4, 5]].mean(axis=0))
    np.testing.assert_allclose(means[2], x[3])
    order = rng.permutation(7)
    ids2, means2 = track_means(x[order], tracks[order])
    assert ids2.tolist() == ids.tolist()
    np.testing.assert_allclose(means2, means)


def test_majority_cluster_and_ties_go_to_the_smallest_label() -> None:
    labels = np.array([2, 2, 1, 0, 3, 3, 0, 5])
    tracks = np.array(["b", "b", "b", "a", "a", "a", "a", "c"])
    clusters = majority_clusters(labels, tracks)
    assert clusters.to_dict() == {"a": 0, "b": 2, "c": 5}  # a: 0 and 3 tie twice each
    shuffled = np.random.default_rng(0).permutation(len(labels))
    assert majority_clusters(labels[shuffled], tracks[shuffled]).to_dict() == clusters.to_dict()


def _segments(track_genre: dict[str, str], per_track: int, split: dict[str, str],
              language: dict[str, str] | None = None) -> pd.DataFrame:
    tracks = [t for t in track_genre for _ in range(per_track)]
    return pd.DataFrame({
        "track_id": tracks,
        "segment_index": [i for _ in track_genre for i in range(per_track)],
        "split": [split[t] for t in tracks],
        "genre": [track_genre[t] for t in tracks],
        "language": [(language or {}).get(t, "en") for t in tracks],
    })


def _pipeline(x: np.ndarray, segments: pd.DataFrame, *, k: int = 2):
    """What cluster and evaluate do, on one representation: segment K-Means, track-mean
    K-Means, then both tables."""
    reps = {"latent": x}
    assignments = segments[["track_id", "segment_index", "split"]].copy()
    assignments["latent.kmeans"] = cluster(x, "kmeans", k=k, seed=0)
    tracks = cluster_tracks(reps, segments["track_id"].to_numpy(),
                            (segments["split"] == "train").to_numpy(), k=k, n_init=10, seed=0)
    split = segments["split"].to_numpy()
    truths = {"genre": segments["genre"].to_numpy(), "language": segments["language"].to_numpy()}
    seg = evaluate_assignments(assignments, reps, truths, split, seed=0)
    track = evaluate_tracks(tracks, assignments, reps, segments, seed=0)
    return seg["latent"]["kmeans"], track["latent"], tracks


def test_noisy_segments_whose_track_means_separate(rng: np.random.Generator) -> None:
    """Each segment is its genre's centre plus noise far larger than the gap between
    centres, so segments barely cluster by genre; the noise sums to zero within every track,
    so track means sit exactly on the centres and K-Means on them is perfect."""
    genre = {f"t{i:02d}": ("rock" if i < 10 else "jazz") for i in range(20)}
    split = {t: ("test" if int(t[1:]) % 5 == 0 else "train") for t in genre}
    segments = _segments(genre, 12, split)
    centre = np.where(segments["genre"] == "rock", 1.0, -1.0)[:, None] * np.array([[1.0, 0.0]])
    noise = rng.normal(scale=4.0, size=(len(segments), 2))
    noise -= pd.DataFrame(noise).groupby(segments["track_id"]).transform("mean").to_numpy()
    seg, track, tracks = _pipeline(centre + noise, segments)
    assert seg["all"]["nmi_genre"] < 0.2
    for scope in SCOPES:
        for key in ("nmi_genre", "ari_genre", "matched_accuracy_genre", "purity_genre"):
            assert track["mean"][scope][key] == pytest.approx(1.0), (scope, key)
    assert track["mean"]["all"]["n_clusters"] == 2 and track["mean"]["test"]["n_clusters"] == 2
    assert track["majority"]["all"]["nmi_genre"] < 1.0  # the vote of noisy segments errs
    assert len(tracks) == 20 and tracks["track_id"].tolist() == sorted(genre)


def test_majority_and_mean_differ_on_a_loud_outlier_segment(rng: np.random.Generator) -> None:
    """Rock tracks: two quiet segments that look like jazz and one far out. Segment K-Means
    puts the far segments apart from everything else, so every track's majority lands in the
    same cluster (NMI 0); the far segment pulls each rock track's mean away (NMI 1)."""
    genre = {f"r{i}": "rock" for i in range(6)} | {f"j{i}": "jazz" for i in range(6)}
    split = {t: ("test" if t.endswith(("0", "1", "2")) else "train") for t in genre}
    segments = _segments(genre, 3, split)
    x = np.full((len(segments), 1), -1.0)
    x[(segments["genre"] == "rock").to_numpy() & (segments["segment_index"] == 2).to_numpy()] = 8.0
    x += rng.normal(scale=0.05, size=x.shape)
    _, track, _ = _pipeline(x, segments)
    for scope in SCOPES:
        assert track["mean"][scope]["nmi_genre"] == pytest.approx(1.0)
        assert track["majority"][scope]["nmi_genre"] == pytest.approx(0.0)
        assert track["majority"][scope]["n_clusters"] == 1
        assert track["majority"][scope]["silhouette"] is None  # one cluster: no index


def test_evaluate_tracks_matches_direct_reports(rng: np.random.Generator) -> None:
    """Structure {rep: {method: {scope}}}; scope 'test' is the report on test tracks only,
    over track means, with each track's own label, in the track table's order."""
    genre = {f"t{i}": ("a", "b", "c")[i % 3] for i in range(12)}
    split = {t: ("test" if i < 4 else "train") for i, t in enumerate(genre)}
    lang = {t: ("en", "de")[i % 2] for i, t in enumerate(genre)}
    segments = _segments(genre, 4, split, lang).sample(frac=1.0, random_state=1)
    segments = segments.reset_index(drop=True)
    x = rng.normal(size=(len(segments), 3))
    assignments = segments[["track_id", "segment_index"]].copy()
    assignments["latent.kmeans"] = rng.integers(0, 3, size=len(segments))
    assignments["pca.dbscan"] = rng.integers(0, 3, size=len(segments))
    order = list(genre)[::-1]  # not sorted: alignment is by track id
    tracks = pd.DataFrame({"track_id": order, "latent.kmeans": np.arange(12) % 3,
                           "pca.kmeans": np.arange(12) % 2})
    reps = {"latent": x, "pca": x[:, :2]}
    out = evaluate_tracks(tracks, assignments, reps, segments, seed=0)
    assert set(out) == {"latent", "pca"}
    assert set(out["latent"]) == set(METHODS)
    assert set(out["pca"]) == {"mean"}  # no segment K-Means for pca: no majority
    ids, means = track_means(x, segments["track_id"].to_numpy())
    means = pd.DataFrame(means, index=ids).loc[order].to_numpy()
    test = np.array([split[t] == "test" for t in order])
    truth = {"genre": np.array([genre[t] for t in order]),
             "language": np.array([lang[t] for t in order])}
    labels = tracks["latent.kmeans"].to_numpy()
    expected = clustering_report(means[test], labels[test],
                                 {k: v[test] for k, v in truth.items()}, seed=0)
    assert out["latent"]["mean"]["test"] == pytest.approx(expected)
    majority = majority_clusters(assignments["latent.kmeans"].to_numpy(),
                                 segments["track_id"].to_numpy()).loc[order].to_numpy()
    assert out["latent"]["majority"]["all"] == pytest.approx(
        clustering_report(means, majority, truth, seed=0))
    # A train track's cluster does not reach the test scope.
    moved = tracks.copy()
    moved.loc[[t not in ("t0", "t1", "t2", "t3") for t in order], "latent.kmeans"] = 0
    again = evaluate_tracks(moved, assignments, reps, segments, seed=0)
    assert again["latent"]["mean"]["test"] == out["latent"]["mean"]["test"]
    assert again["latent"]["mean"]["all"] != out["latent"]["mean"]["all"]


def test_evaluate_tracks_refuses_other_tracks() -> None:
    segments = _segments({"a": "x", "b": "y"}, 2, {"a": "test", "b": "train"})
    assignments = segments[["track_id", "segment_index"]].assign(**{"latent.kmeans": [0, 0, 1, 1]})
    tracks = pd.DataFrame({"track_id": ["a", "c"], "latent.kmeans": [0, 1]})
    with pytest.raises(ArtifactError, match="cluster stage"):
        evaluate_tracks(tracks, assignments, {"latent": np.zeros((4, 2))}, segments, seed=0)


def test_cluster_tracks_one_row_per_track_and_column_per_representation(
        rng: np.random.Generator) -> None:
    tracks = np.repeat(["c", "a", "b", "d"], 3)
    reps = {"latent": rng.normal(size=(12, 2)), "raw": rng.normal(size=(12, 5))}
    out = cluster_tracks(reps, tracks, np.ones(12, dtype=bool), k=2, n_init=5, seed=0)
    assert out.columns.tolist() == ["track_id", "latent.kmeans", "raw.kmeans"]
    assert out["track_id"].tolist() == ["a", "b", "c", "d"]
    _, means = track_means(reps["raw"], tracks)
    np.testing.assert_array_equal(out["raw.kmeans"], cluster(means, "kmeans", k=2, n_init=5,
                                                             seed=0))


def test_track_centres_are_fit_on_train_tracks_only(rng: np.random.Generator) -> None:
    """Test tracks take the nearest train centre: moving them anywhere never moves the
    centres, so the train tracks keep their clusters and a test track lands by distance."""
    tracks = np.repeat([f"t{i}" for i in range(8)], 2)
    is_train = np.repeat([True] * 6 + [False] * 2, 2)
    x = np.repeat([[0.0], [0.1], [0.2], [10.0], [10.1], [10.2], [0.05], [9.0]], 2, axis=0)
    base = cluster_tracks({"latent": x}, tracks, is_train, k=2, n_init=5, seed=0)
    moved = x.copy()
    moved[~is_train] = [[100.0], [100.0], [-50.0], [-50.0]]
    far = cluster_tracks({"latent": moved}, tracks, is_train, k=2, n_init=5, seed=0)
    labels, far_labels = base["latent.kmeans"].to_numpy(), far["latent.kmeans"].to_numpy()
    np.testing.assert_array_equal(labels[:6], far_labels[:6])
    assert labels[6] == labels[0] and labels[7] == labels[3]  # nearest train centre
    assert far_labels[6] == labels[3] and far_labels[7] == labels[0]
