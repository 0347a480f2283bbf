"""params.yaml is the composition of conf/; loading validates and names the bad key."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from genrevae.cli import compose_params
from genrevae.config import Config, from_dict, load_config, load_params
from genrevae.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"


def test_params_yaml_is_fresh_composition_of_conf(tmp_path):
    """Fails when conf/ was edited without recomposing params.yaml (`make params`)."""
    fresh = compose_params([], conf_dir=CONF, output=tmp_path / "params.yaml")
    assert load_params(fresh) == load_params(ROOT / "params.yaml"), (
        "params.yaml is stale: run `make params` and commit it"
    )


@pytest.mark.parametrize(
    "group", sorted(p.parent.name + "=" + p.stem for p in CONF.glob("*/*.yaml")
                    if not p.name.startswith("_"))
)
def test_every_conf_option_composes_and_validates(tmp_path, group):
    out = compose_params([group], conf_dir=CONF, output=tmp_path / "params.yaml")
    assert isinstance(load_config(out), Config)


def test_latent_dim_override_reaches_model(tmp_path):
    """`-S latent_dim=64` must change the model, as the README promises."""
    cfg = load_config(compose_params(["latent_dim=64"], conf_dir=CONF,
                                     output=tmp_path / "p.yaml"))
    assert cfg.latent_dim == 64 and cfg.model.latent_dim == 64


def test_compose_refuses_invalid_override_and_keeps_old_file(tmp_path):
    out = tmp_path / "params.yaml"
    out.write_text("keep: me\n")
    with pytest.raises(ConfigError, match=r"model\.beta"):
        compose_params(["model.beta=-1"], conf_dir=CONF, output=out)
    assert out.read_text() == "keep: me\n"


def _edit(params: dict, dotted: str, value) -> dict:
    p = copy.deepcopy(params)
    *parents, leaf = dotted.split(".")
    node = p
    for key in parents:
        node = node[key]
    node[leaf] = value
    return p


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("latent_dim", -3, "latent_dim: must be positive"),
        ("model.latent_dim", 0, "model.latent_dim: must be positive"),
        ("model.name", "gan", "model.name: must be one of"),
        ("model.input", "video", "model.input: must be one of"),
        ("model.beta", -0.5, "model.beta: must be >= 0"),
        ("model.hidden_dims", [], "model.hidden_dims: needs at least one"),
        ("cluster.k", 1, "cluster.k: must be >= 2"),
        ("cluster.algorithms", ["kmeans", "spectral"], r"cluster.algorithms\[1\]"),
        ("train.epochs", 0, "train.epochs: must be positive"),
        ("train.lr", "fast", "train.lr: expected a number"),
        ("train.device", "tpu", "train.device: must be one of"),
        ("data.split.test", 0.5, "data.split: train \\+ val \\+ test must be 1"),
        ("data.synthetic.tracks_per_genre", 2, "data.synthetic.tracks_per_genre"),
        ("data.name", "spotify", "data.name: must be one of"),
        ("data.clip_pattern", "(", "data.clip_pattern: not a regular expression"),
        ("data.clip_pattern", "(?P<clip>\\d+)", "data.clip_pattern: needs a named group"),
        ("data.genre_map", ["rock"], "data.genre_map: expected a mapping"),
        ("features.hop_length", 4096, "features.hop_length"),
        ("features.n_jobs", -1, "features.n_jobs"),
        ("lyrics.analyzer", "bpe", "lyrics.analyzer"),
        ("seed", 1.5, "seed: expected an integer"),
        ("model.dropout", True, "model.dropout: expected a number"),
    ],
)
def test_invalid_values_are_refused_naming_the_key(params, key, value, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(_edit(params, key, value))


def test_unknown_and_missing_keys_are_refused(params):
    with pytest.raises(ConfigError, match=r"model\.betta: unknown key"):
        from_dict(_edit(params, "model.betta", 1.0))
    broken = copy.deepcopy(params)
    del broken["train"]["epochs"]
    with pytest.raises(ConfigError, match=r"train\.epochs: missing"):
        from_dict(broken)


def test_config_is_frozen(params):
    cfg = from_dict(params)
    with pytest.raises(AttributeError):
        cfg.model.beta = 2.0  # type: ignore[misc]


def test_stage_stops_with_one_clear_line(params, tmp_path):
    """A stage given an invalid value exits 2 with one `error:` line naming the key."""
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(_edit(params, "latent_dim", -4)))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "stages" / "train.py"), "--params", str(bad)],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: latent_dim: must be positive, got -4"]


@pytest.mark.parametrize("stage", sorted(p.stem for p in (ROOT / "stages").glob("*.py")))
def test_every_stage_has_help(stage):
    proc = subprocess.run([sys.executable, str(ROOT / "stages" / f"{stage}.py"), "--help"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0
    assert "--params" in proc.stdout and f"Stage `{stage}`" in proc.stdout
