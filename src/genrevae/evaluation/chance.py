"""What a clustering score can say on a test set of this size: the level it reaches by
chance, and when a run is too small to be read.

NMI rises by chance as the test set shrinks (K-Means NMI of random labels is about 0.07 at
290 test tracks and 10 genres, near 1 at a handful); AMI subtracts its expected value under
random labelling, so it is near 0 for chance at any size, but its spread is still large on
few tracks. The chance level here is the ``QUANTILE`` of each score over permutations of
the labels against the same clusters: the marginals (cluster sizes, genre counts) stay,
only the pairing is shuffled. Shuffling keeps both marginals, so the entropies and the
expected mutual information are the same in every permutation and only the mutual
information has to be recomputed, for all permutations at once from one ``bincount``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

N_PERMUTATIONS = 200
QUANTILE = 0.95
_EPS = np.finfo("float64").eps


def _codes(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes 0..k-1 of ``labels`` and the count of each."""
    _, codes, counts = np.unique(np.asarray(labels), return_inverse=True, return_counts=True)
    return codes.ravel(), counts


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def expected_mutual_information(a: np.ndarray, b: np.ndarray) -> float:
    """E[MI] (nats) of two labellings with class counts ``a`` and cluster counts ``b``
    paired at random (hypergeometric model, Vinh, Epps & Bailey 2010): what AMI subtracts."""
    n = int(a.sum())
    total = 0.0
    for ai in a:
        for bj in b:
            nij = np.arange(max(1, ai + bj - n), min(ai, bj) + 1)
            if len(nij):
                total += float(np.sum(nij / n * np.log(n * nij / (ai * bj))
                                      * stats.hypergeom.pmf(nij, n, ai, bj)))
    return total


def permuted_scores(labellings: np.ndarray, clusters: np.ndarray) -> tuple[np.ndarray,
                                                                           np.ndarray]:
    """NMI and AMI (as scikit-learn computes them: arithmetic normalisation, natural log,
    its limit cases) of each row of ``labellings`` (p, n) against ``clusters`` (n,). Every
    row must be a permutation of the same labels, so that the marginals are shared."""
    labellings = np.atleast_2d(np.asarray(labellings))
    p, n = labellings.shape
    _, a = _codes(labellings[0])
    c, b = _codes(clusters)
    k, m = len(a), len(b)
    if k == m == 1:  # neither labelling splits anything: a perfect match to scikit-learn
        return np.ones(p), np.ones(p)
    if k == 1 or m == 1:
        return np.zeros(p), np.zeros(p)
    # The rows are permutations of the first, so its codes map every row.
    rows = np.searchsorted(np.unique(labellings[0]), labellings)
    cells = (np.arange(p)[:, None] * (k * m) + rows * m + c[None, :]).ravel()
    table = np.bincount(cells, minlength=p * k * m).reshape(p, k, m).astype(float)
    outer = np.outer(a, b).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(table > 0, table / n * np.log(table * n / outer), 0.0)
    mi = np.clip(terms.sum(axis=(1, 2)), 0.0, None)
    mean_h = (_entropy(a) + _entropy(b)) / 2
    nmi = np.where(mi == 0, 0.0, mi / mean_h)
    emi = expected_mutual_information(a, b)
    # scikit-learn's guard against 0/0 at a perfect match: keep the sign, never below eps.
    num, den = mi - emi, mean_h - emi
    num = np.where(num < 0, np.minimum(num, -_EPS), np.maximum(num, _EPS))
    den = min(den, -_EPS) if den < 0 else max(den, _EPS)
    return nmi, num / den


@dataclass(frozen=True)
class Chance:
    """Scores of shuffled labels on the same clusters: the ``QUANTILE`` of NMI and AMI
    (the chance levels), the median NMI, and the spread: quantile minus median, how far
    NMI moves by chance alone on this test set."""

    nmi: float
    ami: float
    nmi_median: float
    n_permutations: int

    @property
    def nmi_spread(self) -> float:
        return self.nmi - self.nmi_median


def permutation_chance(labels: np.ndarray, clusters: np.ndarray, *, seed: int,
                       n_permutations: int = N_PERMUTATIONS) -> Chance:
    """The chance levels of NMI and AMI of ``clusters`` against ``labels`` (one entry per
    track), from ``n_permutations`` shuffles of the labels drawn from ``seed``."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    shuffled = rng.permuted(np.broadcast_to(labels, (n_permutations, len(labels))), axis=1)
    nmi, ami = permuted_scores(shuffled, clusters)
    return Chance(nmi=float(np.quantile(nmi, QUANTILE)), ami=float(np.quantile(ami, QUANTILE)),
                  nmi_median=float(np.median(nmi)), n_permutations=n_permutations)


def small_test_reasons(labels: np.ndarray, *, min_per_label: int, gain: float | None,
                       chance: Chance) -> list[str]:
    """Why a test split cannot rank runs, in words (empty: it can): fewer than
    ``min_per_label`` test tracks per label on average (``len(labels) < min_per_label *
    labels present``), or a margin over the baseline (``gain``, NMI) no larger than the
    spread of NMI under shuffled labels."""
    reasons = []
    n, kinds = len(labels), len(np.unique(np.asarray(labels)))
    if n < min_per_label * kinds:
        reasons.append(f"{n} test tracks for {kinds} labels ({n / max(kinds, 1):.1f} per label, "
                       f"fewer than evaluate.min_test_per_genre={min_per_label})")
    if gain is not None and abs(gain) <= chance.nmi_spread:
        reasons.append(f"|nmi_gain| {abs(gain):.3f} is within the chance spread of NMI "
                       f"{chance.nmi_spread:.3f} (95th percentile {chance.nmi:.3f} minus median "
                       f"{chance.nmi_median:.3f} of {chance.n_permutations} shuffles)")
    return reasons
