"""Each stage module of the fast tier: importable, with the ``run`` its script calls, and
`check` run in-process (the other stages' ``run`` on experiment=tiny take about 40 s of CPU
together: tests/slow/pipeline/test_stages.py runs them all)."""

from __future__ import annotations

import importlib
import inspect
import json

import pytest

from tests.pipeline.conftest import ALL_STAGES, run_stages, tiny_project


@pytest.mark.parametrize("stage", ALL_STAGES)
def test_stage_module_has_the_run_its_script_calls(stage: str) -> None:
    """genrevae.pipeline.<stage>.run(cfg), and evaluate's run(cfg, params): what
    runner.run_inline and stages/<stage>.py call."""
    run = importlib.import_module(f"genrevae.pipeline.{stage}").run
    params = list(inspect.signature(run).parameters)
    assert params == (["cfg", "params"] if stage == "evaluate" else ["cfg"])


def test_check_runs_in_process_and_records_valid_params(tmp_path, tiny_params) -> None:
    root = tiny_project(tmp_path / "project", tiny_params)
    run_stages(root, ["check"])
    checked = root / tiny_params["paths"]["checked"]
    assert json.loads(checked.read_text(encoding="utf-8")) == {"params": "valid"}
    assert sorted(p.name for p in root.iterdir()) == ["data", "params.yaml"]
