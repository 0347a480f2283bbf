"""The diagnostics' KL against the training loop's, for every model (a short training each:
the slow part of tests/evaluation/test_diagnostics.py)."""

from __future__ import annotations

import numpy as np
import pytest

from genrevae.config import MODEL_NAMES
from genrevae.evaluation.diagnostics import latent_diagnostics
from genrevae.models.training import Rows, TrainData, TrainOptions, fit
from tests.evaluation.test_diagnostics import (
    LATENT,
    inputs,
    model_of,
)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_kl_matches_the_training_loop(rng: np.random.Generator, name: str) -> None:
    """On validation rows the diagnostics' KL equals the KL fit reports for its best epoch
    (both at the posterior mean), for every model."""
    model = model_of(name)
    x, c = inputs(name, 48, rng)
    rows = Rows(x, c=c)
    result = fit(model, TrainData(rows.take(slice(0, 32)), rows.take(slice(32, None))),
                 TrainOptions(beta=1.0, epochs=2, batch_size=16, lr=1e-2, patience=10,
                              progress=False))
    out = latent_diagnostics(model, x[32:], c=None if c is None else c[32:])
    best = result.history[result.best_epoch - 1]
    assert out["kl"] == pytest.approx(best["val_kl"], rel=1e-4, abs=1e-6)
    assert len(out["kl_per_dim"]) == LATENT
    assert np.isfinite(out["recon_mse"])
    if name == "ae":
        assert out["kl"] == 0.0
