"""`genrevae compare` on real runs: the tiny pipeline in-process for two latent sizes and
three seeds, read back from a real SQLite MLflow store (the slow part of
tests/tracking/test_compare.py)."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from genrevae import cli
from genrevae.tracking.compare import find_runs, records
from genrevae.tracking.compare_seeds import DataSet, group, pairs

TINY_SEEDS = (0, 2, 3)
TINY_DIMS = (4, 8)


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory, tiny_composed):
    """The stages run in-process on experiment=tiny for each seed, then train, cluster and
    evaluate again with latent_dim 8 on the same prepared features: six real MLflow runs
    (named like DVC experiments), two configurations of three seeds."""
    import contextlib

    import torch
    import yaml

    from genrevae.pipeline.runner import run_inline

    stages = ("prepare", "extract_audio", "embed_lyrics", "fuse", "train", "cluster",
              "evaluate")
    root = tmp_path_factory.mktemp("tiny-sweep").resolve()
    store = f"sqlite:///{root / 'mlflow.db'}"
    deterministic = torch.are_deterministic_algorithms_enabled()
    with pytest.MonkeyPatch.context() as mp:
        for key in ("DVC_EXP_BASELINE_REV", "MLFLOW_EXPERIMENT_NAME", "DVC_ROOT"):
            mp.delenv(key, raising=False)
        mp.setenv("MLFLOW_TRACKING_URI", store)
        for seed in TINY_SEEDS:
            work = root / f"seed{seed}"
            work.mkdir()
            with contextlib.chdir(work):
                try:
                    for dim in TINY_DIMS:
                        p = copy.deepcopy(tiny_composed)
                        p["seed"], p["latent_dim"] = seed, dim
                        # Bookkeeping only (one process, no pool to start): same configuration.
                        p["features"]["n_jobs"] = 1
                        Path("params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
                        mp.setenv("DVC_EXP_NAME", f"z{dim}-s{seed}")
                        for stage in stages if dim == TINY_DIMS[0] else stages[4:]:
                            run_inline(stage, "params.yaml")
                finally:
                    torch.use_deterministic_algorithms(deterministic)
    return store


def test_real_tiny_runs_grouped_by_seed(tiny_sweep, monkeypatch, capsys) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tiny_sweep)
    recs = records(find_runs(last=20))
    configs = group(recs)
    assert [(c.params["latent_dim"], [r.seed for r in c.runs]) for c in configs] == [
        ("4", ["0", "2", "3"]), ("8", ["0", "2", "3"])]
    # The tiny data: 16 synthetic tracks in 4 genres; each seed draws its own split, shared
    # by both latent sizes (same manifest digest for the same seed).
    assert configs[0].data == DataSet("synthetic", "", "16", "4")
    for a, b in zip(configs[0].runs, configs[1].runs, strict=True):
        assert a.digest and a.digest == b.digest
    assert len({r.digest for r in configs[0].runs}) == 3
    (pair,) = pairs(configs)
    score = "ami" if all(r.value("ami") is not None for r in recs) else "nmi"
    by = {(r.params["latent_dim"], r.seed): r for r in recs}
    used = pair.seeds
    assert used == [s for s in map(str, TINY_SEEDS)
                    if not (by["4", s].small or by["8", s].small)] or not pair.judged
    d = [by["8", s].value(score) - by["4", s].value(score) for s in used]
    if len(d) >= 2:
        low, high = (stats.t.interval(0.95, len(d) - 1, loc=np.mean(d), scale=stats.sem(d))
                     if np.std(d) > 0 else (np.mean(d), np.mean(d)))
        iv = pair.diffs[score]
        assert (iv.mean, iv.low, iv.high) == (pytest.approx(np.mean(d)), pytest.approx(low),
                                              pytest.approx(high))
    cli.main(["compare"])
    out = capsys.readouterr().out
    assert all(len(line) <= 100 for line in out.splitlines())
    assert "  A    latent_dim=4  3 seeds (0,2,3)" in out and "  B - A  seeds" in out
    assert f"verdict ({score}, 95% paired interval above zero): " in out
