"""A linear probe on a representation: logistic regression fit on the train split and
scored on the test split, per segment and per track (mean-probability vote)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit, logsumexp
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


@dataclass(frozen=True)
class ProbeResult:
    metrics: dict[str, float]
    classes: list[str]
    confusion: np.ndarray  # (n_classes, n_classes) track-level counts: rows true, cols predicted
    model: object  # the fitted sklearn pipeline (scaler + logistic regression)


C_GRID = (0.01, 0.1, 1.0, 10.0)
# Logistic regression's iteration budget (lbfgs).
MAX_ITER = 2000
# Gradient tolerance of the fit in the span (:func:`fit_orthogonal`), on its preconditioned
# objective: on the previews' flattened log-mel it ends nearer the optimum than
# scikit-learn's fit at its default tolerance, for every C of the grid (benchmarks/probe.py).
SPAN_GTOL = 1e-5


class ProbeInput:
    """The probe's input: columns standardised with the statistics of the rows it is built
    on (the train split, or one cross-validation fold's fit rows), reused for every C.

    Where there are more features than fit rows (a flattened log-mel: 16,640 columns for a
    few thousand segments), the standardised rows are also expressed in an orthonormal
    basis ``V`` of the fit rows' span. An L2-penalised logistic regression's weights lie in
    that span (any part outside it leaves every fit row's score unchanged and only adds to
    the penalty), and ``x @ w = (x @ V) @ (V.T @ w)`` with ``|V.T @ w| = |w|`` there, so the
    fit on the ``r <= n`` coordinates is the same problem with the same optimum, each solver
    step costing ``r / d`` of one on the full width; its weights are mapped back to the
    standardised columns (:meth:`fit`), so the fitted probe is the ordinary one.

    Those coordinates are the rows' principal components: orthogonal columns whose squared
    norms span several orders of magnitude, an ill-conditioned problem for scikit-learn's
    lbfgs (thousands of iterations, and at large C it stops far from the optimum). Knowing
    the columns are orthogonal, :func:`fit_orthogonal` rescales each one by the curvature
    it adds and solves the same problem in a few hundred.
    """

    def __init__(self, x: np.ndarray) -> None:
        self.scaler = StandardScaler().fit(x)
        xs = self.scaler.transform(x)
        self.basis = span_basis(xs)
        self.coords = self._in_span(xs)

    def _in_span(self, xs: np.ndarray) -> np.ndarray:
        return xs if self.basis is None else xs @ self.basis

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Rows in the columns :meth:`regression` is fit on."""
        return self._in_span(self.scaler.transform(x))

    def regression(self, labels: np.ndarray, c: float, seed: int) -> LogisticRegression:
        """Logistic regression fit on these rows' coordinates (:meth:`transform`'s columns)."""
        if self.basis is not None:
            return fit_orthogonal(self.coords, labels, c)
        return LogisticRegression(max_iter=MAX_ITER, C=c, random_state=seed).fit(self.coords,
                                                                                 labels)

    def fit(self, labels: np.ndarray, c: float, seed: int):
        """The fitted pipeline (this fold's scaler, logistic regression on its columns)."""
        logreg = self.regression(labels, c, seed)
        if self.basis is not None:
            logreg.coef_ = logreg.coef_ @ self.basis.T
            logreg.n_features_in_ = self.basis.shape[0]
        return make_pipeline(self.scaler, logreg)


def span_basis(xs: np.ndarray) -> np.ndarray | None:
    """(d, r) orthonormal basis of the span of the rows of ``xs`` (n, d), float64, when
    ``d > n``; None otherwise. From the eigenvectors of the (n, n) Gram matrix, dropping
    directions whose eigenvalue is below 1e-10 of the largest (rounding, not data)."""
    n, d = xs.shape
    if d <= n:
        return None
    x64 = np.asarray(xs, dtype=np.float64)
    values, vectors = np.linalg.eigh(x64 @ x64.T)
    keep = values > max(values.max(), 0.0) * 1e-10
    if not keep.any():
        return np.zeros((d, 0))
    return x64.T @ (vectors[:, keep] / np.sqrt(values[keep]))


def fit_orthogonal(x: np.ndarray, labels: np.ndarray, c: float, *, gtol: float = SPAN_GTOL,
                   max_iter: int = MAX_ITER) -> LogisticRegression:
    """scikit-learn's L2 logistic regression (``C=c``; binary with two classes, multinomial
    with more; intercepts unpenalised), solved for ``x`` whose columns are orthogonal and
    centred, as :class:`ProbeInput`'s coordinates in the span are. Returned as a fitted
    :class:`~sklearn.linear_model.LogisticRegression`, so it predicts as any other.

    The objective is ``c * sum(loss) + |W|^2 / 2``. Its curvature along column ``j`` is at
    most ``1 + c * |x_j|^2 / 4`` (a logistic loss bends at most by 1/4) and the columns do
    not interact in the quadratic bound, so lbfgs runs on ``W = D V`` with ``D_j`` the
    inverse square root of that bound (likewise the intercepts, with ``n`` for ``|x_j|^2``).
    That is a change of variables, not of the problem: the optimum is the same."""
    x = np.asarray(x, dtype=np.float64)
    classes, y = np.unique(np.asarray(labels), return_inverse=True)
    if len(classes) < 2:
        raise ValueError("a logistic regression needs at least two classes")
    n, r = x.shape
    binary = len(classes) == 2
    k = 1 if binary else len(classes)
    target = (y == 1).astype(np.float64)[:, None] if binary else np.eye(k)[y]
    col = 1.0 / np.sqrt(1.0 + c * np.einsum("ij,ij->j", x, x) / 4.0)
    icpt = 1.0 / np.sqrt(1.0 + c * n / 4.0)

    def unpack(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return col[:, None] * p[: r * k].reshape(r, k), icpt * p[r * k:]

    def objective(p: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = unpack(p)
        s = x @ w + b
        if binary:
            loss = np.logaddexp(0.0, s).sum() - (target * s).sum()
            prob = expit(s)
        else:
            lse = logsumexp(s, axis=1, keepdims=True)
            loss = lse.sum() - (target * s).sum()
            prob = np.exp(s - lse)
        g = c * (prob - target)
        grad = np.concatenate([(col[:, None] * (x.T @ g + w)).ravel(), icpt * g.sum(axis=0)])
        return float(c * loss + 0.5 * (w * w).sum()), grad

    res = minimize(objective, np.zeros(r * k + k), jac=True, method="L-BFGS-B",
                   options={"maxiter": max_iter, "gtol": gtol, "ftol": 0.0})
    w, b = unpack(res.x)
    model = LogisticRegression(C=c, max_iter=max_iter)
    model.classes_ = classes
    model.coef_ = np.ascontiguousarray(w.T)
    model.intercept_ = b
    model.n_features_in_ = r
    model.n_iter_ = np.array([res.nit], dtype=np.int32)
    return model


def _choose_c(z: np.ndarray, labels: np.ndarray, groups: np.ndarray, seed: int) -> float:
    """The inverse regularisation strength with the best accuracy in 5-fold cross-validation
    on the train split, folds grouped by track (so a track's segments never straddle folds).
    Every representation gets its own best probe; the test split is never looked at."""
    n_groups = len(np.unique(groups))
    if n_groups < 3:
        return 1.0
    folds = [(fit_rows, score_rows)
             for fit_rows, score_rows in GroupKFold(n_splits=min(5, n_groups)).split(z, labels, groups)
             if len(set(labels[fit_rows])) >= 2]
    accs: dict[float, list[float]] = {c: [] for c in C_GRID}
    for fit_rows, score_rows in folds:
        fold = ProbeInput(z[fit_rows])
        held_out = fold.transform(z[score_rows])
        for c in C_GRID:
            logreg = fold.regression(labels[fit_rows], c, seed)
            accs[c].append(accuracy_score(labels[score_rows], logreg.predict(held_out)))
    scores = [np.mean(accs[c]) if accs[c] else -1.0 for c in C_GRID]
    return float(C_GRID[int(np.argmax(scores))])


def linear_probe(
    z: np.ndarray, labels: np.ndarray, split: np.ndarray, track_ids: np.ndarray, *, seed: int
) -> ProbeResult:
    """Fit on ``split == 'train'`` rows (regularisation chosen by grouped cross-validation
    there), score on ``split == 'test'`` rows.

    Track level: the mean of a track's segment probabilities picks its label, so a song is
    judged once however many segments it has.
    """
    labels = np.asarray(labels, dtype=object)
    train, test = split == "train", split == "test"
    classes = sorted(set(labels[train]))
    if len(classes) < 2 or not test.any():
        nan = float("nan")
        return ProbeResult({"segment_accuracy": nan, "segment_macro_f1": nan,
                            "track_accuracy": nan, "track_macro_f1": nan}, classes,
                           np.zeros((len(classes), len(classes)), dtype=int), None)
    c = _choose_c(z[train], labels[train], np.asarray(track_ids)[train], seed)
    probe = ProbeInput(z[train]).fit(labels[train], c, seed)
    proba = probe.predict_proba(z[test])
    seg_pred = probe.classes_[proba.argmax(axis=1)]
    frame = pd.DataFrame(proba, columns=probe.classes_)
    frame["track"] = np.asarray(track_ids)[test]
    per_track = frame.groupby("track", sort=True).mean()
    track_pred = per_track.columns[per_track.to_numpy().argmax(axis=1)].to_numpy()
    truth_by_track = pd.Series(labels[test], index=frame["track"]).groupby(level=0).first()
    track_true = truth_by_track.loc[per_track.index].to_numpy()
    metrics = {
        "segment_accuracy": float(accuracy_score(labels[test], seg_pred)),
        "segment_macro_f1": float(f1_score(labels[test], seg_pred, average="macro",
                                           labels=classes, zero_division=0)),
        "track_accuracy": float(accuracy_score(track_true, track_pred)),
        "track_macro_f1": float(f1_score(track_true, track_pred, average="macro", labels=classes,
                                         zero_division=0)),
    }
    # Test tracks of a label the train split never had are counted wrong above; the matrix
    # has no row for them (scikit-learn refuses a matrix with no row at all).
    if np.isin(track_true, classes).any():
        confusion = confusion_matrix(track_true, track_pred, labels=classes)
    else:
        confusion = np.zeros((len(classes), len(classes)), dtype=int)
    return ProbeResult(metrics, classes, confusion, probe)
