"""`evaluate` on a corpus too small to rank runs (experiment=tiny: 4 genres x 4 tracks, one
test track per genre), in-process on the real stages and a real MLflow store: one warning
line, and the flag in headline.json, eval.json and the MLflow run."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

import pytest
import yaml

from genrevae.config import from_dict
from genrevae.errors import ConfigError
from genrevae.evaluation.headline import KEYS
from genrevae.pipeline.evaluate import SMALL_TEST_TAG
from tests.pipeline.conftest import STAGES, run_stages

CHANCE_KEYS = ("ami", "ami_base", "ami_gain", "ami_lang", "n_test", "n_genres", "nmi_chance",
               "ami_chance", "small_test")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_composed, torch_one_thread) -> Path:
    """The tiny pipeline up to its clusters, in a temporary folder."""
    root = tmp_path_factory.mktemp("small")
    (root / "params.yaml").write_text(yaml.safe_dump(tiny_composed, sort_keys=False))
    run_stages(root, STAGES[:-1])
    return root


def test_a_tiny_test_split_is_flagged_everywhere(trained, tiny_composed, caplog):
    with caplog.at_level(logging.WARNING, logger="genrevae.pipeline.evaluate"):
        run_stages(trained, ("evaluate",))
    (line,) = [r.getMessage() for r in caplog.records if "small_test" in r.getMessage()]
    assert "\n" not in line
    assert "4 test tracks for 4 labels (1.0 per label, fewer than " \
           "evaluate.min_test_per_genre=5)" in line

    paths = tiny_composed["paths"]
    head = json.loads((trained / paths["headline"]).read_text())
    assert tuple(head) == KEYS and set(CHANCE_KEYS) <= set(head)
    assert (head["n_test"], head["n_genres"], head["small_test"]) == (4, 4, 1.0)
    # Four tracks of four genres: every shuffle of four distinct labels over the clusters
    # scores the same, so whatever the latent scores is exactly its chance level.
    assert head["nmi"] == head["nmi_chance"] and head["ami"] == head["ami_chance"]
    assert head["ami_net"] == 0.0
    chance = json.loads((trained / paths["eval_metrics"]).read_text())["chance"]
    assert chance["small_test"] is True and chance["min_test_per_genre"] == 5
    assert chance["n_permutations"] == 200 and chance["reasons"][0] in line

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{trained / 'mlflow.db'}")
    (run,) = client.search_runs(client.get_experiment_by_name("genrevae").experiment_id)
    assert run.data.tags[SMALL_TEST_TAG] == "true"
    assert {k: run.data.metrics[k] for k in CHANCE_KEYS if head[k] is not None} == \
        {k: head[k] for k in CHANCE_KEYS if head[k] is not None}


@pytest.mark.parametrize("value, message", [
    (0, "evaluate.min_test_per_genre: must be positive, got 0"),
    (2.5, "evaluate.min_test_per_genre: expected an integer, got 2.5"),
])
def test_min_test_per_genre_is_validated(tiny_params, value, message):
    raw = copy.deepcopy(tiny_params)
    raw["evaluate"]["min_test_per_genre"] = value
    with pytest.raises(ConfigError, match=message):
        from_dict(raw)
