"""The in-process pipeline harness: each stage's ``genrevae.pipeline.<stage>.run`` called
in this process (as ``stages/<stage>.py`` calls it: config loaded, everything seeded) in a
temporary folder on experiment=tiny, with its own SQLite MLflow store. No `dvc`, no
subprocess: the tiny pipeline takes seconds. Used by tests/slow/pipeline/test_stages.py,
tests/slow/test_predict.py and the slow tests that run the tiny pipeline (they import
these names from here)."""

from __future__ import annotations

import contextlib
import copy
from pathlib import Path

import pytest
import torch
import yaml

from genrevae.pipeline.runner import run_inline

# The stages `genrevae predict` needs (check and eda add nothing it reads).
STAGES = ("prepare", "extract_audio", "embed_lyrics", "fuse", "train", "cluster", "evaluate")
# Every stage of dvc.yaml, in its order.
ALL_STAGES = ("check", *STAGES, "eda")


def run_stages(root: Path, stages=STAGES) -> None:
    """Each stage's ``run`` in-process, in ``root``, on its params.yaml, seeded as a stage
    process is (the global switch seeding sets is restored after)."""
    deterministic = torch.are_deterministic_algorithms_enabled()
    with pytest.MonkeyPatch.context() as mp, contextlib.chdir(root):
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
        try:
            for stage in stages:
                run_inline(stage, "params.yaml")
        finally:
            torch.use_deterministic_algorithms(deterministic)


def tiny_project(root: Path, params: dict) -> Path:
    """``root`` holding only a params.yaml of ``params`` (paths are relative to it)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return root


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, tiny_composed) -> Path:
    """A tiny pipeline (4 genres x 4 synthetic tracks of 6 s, hybrid input) run stage by
    stage in a temporary folder; returns that folder."""
    p = copy.deepcopy(tiny_composed)
    assert p["model"]["input"] == "hybrid" and p["train"]["device"] == "cpu"
    root = tiny_project(tmp_path_factory.mktemp("pipeline"), p)
    run_stages(root)
    return root


class Staged:
    """A tiny project whose stages run on demand, in dvc.yaml's order, each once:
    ``upto(stage)`` runs the stages before ``stage`` not yet run, then ``stage``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.done: list[str] = []

    def upto(self, stage: str) -> Path:
        todo = [s for s in ALL_STAGES[: ALL_STAGES.index(stage) + 1] if s not in self.done]
        for s in todo:
            run_stages(self.root, [s])
            self.done.append(s)
        return self.root


@pytest.fixture(scope="module")
def staged(tmp_path_factory, tiny_composed) -> Staged:
    """The tiny project of :func:`pipeline`, its stages run as the tests ask for them."""
    return Staged(tiny_project(tmp_path_factory.mktemp("staged"), copy.deepcopy(tiny_composed)))
