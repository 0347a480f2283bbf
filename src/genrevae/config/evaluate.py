"""The ``cluster`` and ``evaluate`` sections: how the latent space is clustered and what
it is scored against; each dataclass validates its own keys."""

from __future__ import annotations

from dataclasses import dataclass

from genrevae.config.build import fail, non_negative, one_of, positive

CLUSTER_ALGORITHMS = ("kmeans", "agglomerative", "dbscan")
LINKAGES = ("ward", "average", "complete", "single")
# Labels a run may be evaluated against.
EVAL_TARGETS = ("genre", "language", "source")


@dataclass(frozen=True)
class ClusterConfig:
    k: int | None
    algorithms: tuple[str, ...]
    linkage: str
    n_init: int
    dbscan_min_samples: int
    dbscan_eps: float | None

    def check(self) -> None:
        if self.k is not None and self.k < 2:
            fail("cluster.k", f"must be >= 2, got {self.k}")
        if not self.algorithms:
            fail("cluster.algorithms", "needs at least one algorithm")
        for i, algo in enumerate(self.algorithms):
            one_of(f"cluster.algorithms[{i}]", algo, CLUSTER_ALGORITHMS)
        one_of("cluster.linkage", self.linkage, LINKAGES)
        positive("cluster.n_init", self.n_init)
        positive("cluster.dbscan_min_samples", self.dbscan_min_samples)
        if self.dbscan_eps is not None:
            positive("cluster.dbscan_eps", self.dbscan_eps)


@dataclass(frozen=True)
class EvaluateConfig:
    # The label the linear probe predicts and matched accuracy/purity are computed for.
    target: str
    tsne_perplexity: float
    max_plot_points: int
    n_reconstructions: int
    # Below this many test tracks per target label (on average) a run is flagged
    # small_test: its scores cannot rank it against other runs.
    min_test_per_genre: int = 5

    def check(self) -> None:
        one_of("evaluate.target", self.target, EVAL_TARGETS)
        positive("evaluate.min_test_per_genre", self.min_test_per_genre)
        positive("evaluate.tsne_perplexity", self.tsne_perplexity)
        positive("evaluate.max_plot_points", self.max_plot_points)
        non_negative("evaluate.n_reconstructions", self.n_reconstructions)
