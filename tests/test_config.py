"""params.yaml is the composition of conf/; loading validates and names the bad key."""

from __future__ import annotations

import copy
import dataclasses
import math
import re
import subprocess
import sys
import typing
from pathlib import Path

import pytest
import yaml

from genrevae.config import MODEL_NAMES, Config, from_dict, load_config, load_params
from genrevae.config.compose import compose_params
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


def test_experiment_preset_sets_keys_across_groups_and_the_command_line_wins(tmp_path):
    """`-S experiment=feature_table` widens whichever model is chosen; an explicit key on the
    same command line still overrides the preset."""
    def compose(*overrides):
        return load_config(compose_params(list(overrides), conf_dir=CONF,
                                          output=tmp_path / "p.yaml"))

    base = compose()
    for name in ("vae", "vade"):
        cfg = compose(f"model={name}", "experiment=feature_table")
        assert cfg.model.name == name
        assert (cfg.latent_dim, cfg.model.latent_dim) == (57, 57)
        assert cfg.model.hidden_dims == (512, 256) and cfg.model.beta == 0.003
        assert cfg.model.input == "audio"
        assert (base.fuse.audio_transform, cfg.fuse.audio_transform) == ("none", "yeo_johnson")
        assert cfg.train == base.train and cfg.seed == base.seed
        # The preset fits the table it is for: 57 feature columns, no lyrics.
        from genrevae.models.registry import build_model

        assert build_model(cfg.model, (57,), n_conditions=0, n_components=10).latent_dim == 57
    cfg = compose("experiment=feature_table", "latent_dim=64", "model.beta=0.5")
    assert (cfg.model.latent_dim, cfg.model.beta, cfg.model.hidden_dims) == (64, 0.5, (512, 256))


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
        ("latent_dim", -3, r"^latent_dim: must be >= 2 \(evaluate draws the latent space in "
                           r"2-D\), got -3$"),
        ("latent_dim", 1, r"^latent_dim: must be >= 2 .*got 1$"),
        ("seed", -1, r"^seed: must be in 0\.\.4294967295 \(2\*\*32 - 1\), got -1$"),
        ("seed", 2**32, r"^seed: must be in 0\.\.4294967295 \(2\*\*32 - 1\), got 4294967296$"),
        ("seed", 2**64, r"^seed: must be in .*got 18446744073709551616$"),
        ("seed", 10**100, r"^seed: must be in .*got 10000000000000000000\.\.\. \(101 digits\)$"),
        ("features.n_jobs", 10_000, r"^features\.n_jobs: must be <= 1024, got 10000$"),
        ("model.latent_dim", 0, "model.latent_dim: the latent size is set by the top-level"),
        ("model.name", "gan", "model.name: must be one of"),
        ("model.input", "video", "model.input: must be one of"),
        ("model.beta", -0.5, "model.beta: must be >= 0"),
        ("model.hidden_dims", [], "model.hidden_dims: needs at least one"),
        ("cluster.k", 1, "cluster.k: must be >= 2"),
        ("cluster.algorithms", ["kmeans", "spectral"], r"cluster.algorithms\[1\]"),
        ("train.epochs", 0, "train.epochs: must be positive"),
        ("train.lr", "fast", "train.lr: expected a number"),
        ("train.device", "tpu", "train.device: must be one of"),
        ("data.fractions.test", 0.5, "data.fractions: train \\+ val \\+ test must be 1"),
        ("data.synthetic.tracks_per_genre", 2, "data.synthetic.tracks_per_genre"),
        ("data.name", "spotify", "data.name: must be one of"),
        ("data.clip_pattern", "(", "data.clip_pattern: not a regular expression"),
        ("data.clip_pattern", "(?P<clip>\\d+)", "data.clip_pattern: needs a named group"),
        ("data.clips_per_song", 0, "data.clips_per_song: must be >= 1"),
        ("data.clips_per_song", 2.5, "data.clips_per_song: expected an integer"),
        ("data.clips_per_song", "ten", "data.clips_per_song: expected an integer"),
        ("data.genre_map", ["rock"], "data.genre_map: expected a mapping"),
        ("features.hop_length", 4096, "features.hop_length"),
        ("features.n_jobs", -1, "features.n_jobs"),
        ("features.engine", "spark", "features.engine: must be one of local, dask"),
        ("features.scheduler", "tcp://h:8786", "features.scheduler: only meaningful with"),
        ("lyrics.analyzer", "bpe", "lyrics.analyzer"),
        ("fuse.audio_transform", "box_cox", "fuse.audio_transform: must be one of none, "
                                            "yeo_johnson"),
        ("seed", 1.5, "seed: expected an integer"),
        ("model.dropout", True, "model.dropout: expected a number"),
    ],
)
def test_invalid_values_are_refused_naming_the_key(params, key, value, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(_edit(params, key, value))


def _float_keys(cls: type = Config, prefix: str = "") -> list[str]:
    """Every dotted key of a float field (optional ones too), found from the dataclasses, so
    a float key added later is covered without editing this test."""
    keys = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        args = [a for a in typing.get_args(tp) if a is not type(None)] or [tp]
        if dataclasses.is_dataclass(args[0]):
            keys += _float_keys(args[0], f"{prefix}{f.name}.")
        elif args[0] is float:
            keys.append(prefix + f.name)
    return keys


FLOAT_KEYS = _float_keys()


def test_float_keys_are_found():
    assert {"train.lr", "features.segment_seconds", "model.beta", "fuse.audio_weight",
            "cluster.dbscan_eps", "data.fractions.train", "data.synthetic.duration"} <= set(FLOAT_KEYS)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 10**400])
@pytest.mark.parametrize("key", FLOAT_KEYS)
def test_every_float_key_must_be_finite(params, key, value):
    with pytest.raises(ConfigError, match=rf"^{re.escape(key)}: must be a finite number, got "):
        from_dict(_edit(params, key, value))


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("features.sample_rate", 7, r"features\.sample_rate: must be in \[8000, 192000\], got 7"),
        ("features.sample_rate", 1_000_000, r"features\.sample_rate: must be in \[8000, 192000\]"),
        ("data.synthetic.sample_rate", 4000, r"data\.synthetic\.sample_rate: must be in \[8000"),
        ("features.n_mels", 2000, r"features\.n_mels: must not exceed the 1025 frequency bins"),
        ("features.n_fft", 2**20, r"features\.n_fft: must be <= 65536"),
        ("features.segment_seconds", 1e4, r"features\.segment_seconds: must be <= 600"),
        ("features.max_seconds", 1e5, r"^features\.max_seconds: must be <= 3600"),
        ("features.max_seconds", 2.0, r"^features\.max_seconds: must hold one segment: at "
                                      r"least features\.segment_seconds \(3\), got 2"),
        ("latent_dim", 100_000, r"^latent_dim: must be <= 1024, got 100000"),
        ("model.hidden_dims", [256, 10**6], r"^model\.hidden_dims\[1\]: must be <= 16384"),
        ("model.channels", [], r"^model\.channels: needs at least one convolution"),
        ("model.channels", [16, 0], r"^model\.channels\[1\]: must be positive"),
        ("model.channels", [16, 10**6], r"^model\.channels\[1\]: must be <= 4096"),
        ("model.pool", 0, r"^model\.pool: must be positive"),
        ("model.pool", 64, r"^model\.pool: must be <= 16"),
        ("train.epochs", 10**7, r"^train\.epochs: must be <= 100000"),
        ("train.batch_size", 10**7, r"^train\.batch_size: must be <= 65536"),
        ("train.batch_size", 0, r"^train\.batch_size: must be positive"),
        ("train.lr", 100.0, r"^train\.lr: must be <= 10"),
    ],
)
def test_sizes_are_bounded(params, key, value, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(_edit(params, key, value))


@pytest.mark.parametrize(
    ("key", "value"),
    [("features.sample_rate", 8000), ("features.sample_rate", 192000), ("latent_dim", 1024),
     ("latent_dim", 2), ("seed", 0), ("seed", 2**32 - 1), ("features.n_jobs", 1024),
     ("features.n_mels", 1025), ("train.epochs", 100_000), ("train.lr", 10),
     ("features.max_seconds", 3600.0), ("features.max_seconds", 3.0)],
)
def test_bounds_are_inclusive(params, key, value):
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


def _stage_errors(params_file: Path) -> list[str]:
    """The `error:` lines of the train stage run on ``params_file``, which must exit 2
    without a traceback."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "stages" / "train.py"), "--params", str(params_file)],
        capture_output=True, text=True, cwd=params_file.parent, timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    return [line for line in proc.stderr.splitlines() if line.startswith("error:")]


def test_validating_imports_no_model_code():
    """The check stage stays light: loading and validating the config (model.name included,
    against genrevae.models.names) imports neither torch nor the model classes."""
    code = ("import sys; from genrevae.config import load_config; "
            f"load_config({str(ROOT / 'params.yaml')!r}); "
            "print(*sorted(m for m in sys.modules if m == 'torch' or m.startswith('genrevae.models')))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    assert proc.stdout.split() == ["genrevae.models", "genrevae.models.names"]


# ---------------------------------------------------------------- model variants


def test_every_model_name_has_a_conf_option():
    """conf/model/ offers every model the config accepts, so `model=<name>` composes."""
    options = {p.stem for p in (CONF / "model").glob("*.yaml") if not p.name.startswith("_")}
    assert options == set(MODEL_NAMES)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["model=vae"], {"name": "vae", "input": "hybrid", "condition": None}),
        (["model=ae"], {"name": "ae", "input": "hybrid"}),
        (["model=conv_vae"], {"name": "conv_vae", "input": "mel"}),
        (["model=cvae"], {"name": "cvae", "condition": "language"}),
        (["model=cvae", "model.condition=source", "evaluate.target=language"],
         {"name": "cvae", "condition": "source"}),
        (["model=vade"], {"name": "vade", "pretrain_epochs": 10, "n_components": None}),
        (["model=vade", "model.n_components=5", "latent_dim=6"],
         {"name": "vade", "n_components": 5, "latent_dim": 6}),
        (["model=vae", "model.free_bits=0.5", "train.kl_warmup_epochs=5"],
         {"name": "vae", "free_bits": 0.5}),
    ],
)
def test_model_options_compose(tmp_path, overrides, expected):
    """model=<name> (with overrides) composes into a valid config with that model's defaults."""
    cfg = load_config(compose_params(overrides, conf_dir=CONF, output=tmp_path / "p.yaml"))
    for key, value in expected.items():
        assert getattr(cfg.model, key) == value, key
    assert cfg.model.latent_dim == cfg.latent_dim
    if "train.kl_warmup_epochs=5" in overrides:
        assert cfg.train.kl_warmup_epochs == 5


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model=conv_vae", "model.input=hybrid"], r"model\.input: conv_vae reads input 'mel'"),
        (["model=vae", "model.input=mel"], r"model\.input: conv_vae reads input 'mel'"),
        (["model=cvae", "evaluate.target=language"], r"model\.condition: .*evaluate\.target"),
        (["model=cvae", "model.condition=genre"], r"model\.condition: must be one of"),
    ],
)
def test_compose_refuses_invalid_model_combinations(tmp_path, overrides, message):
    """Invalid combinations are refused at composition time, naming the key."""
    with pytest.raises(ConfigError, match=message):
        compose_params(overrides, conf_dir=CONF, output=tmp_path / "p.yaml")


def _model_edits(params: dict, **edits) -> dict:
    p = copy.deepcopy(params)
    for dotted, value in edits.items():
        p = _edit(p, dotted.replace("__", "."), value)
    return p


@pytest.mark.parametrize(
    ("edits", "message"),
    [
        ({"model__name": "conv_vae", "model__input": "hybrid"}, r"^model\.input: conv_vae"),
        ({"model__name": "conv_vae", "model__input": "audio"}, r"^model\.input: conv_vae"),
        ({"model__name": "vade", "model__input": "mel"}, r"^model\.input: conv_vae"),
        ({"model__name": "cvae", "model__condition": "genre"}, r"^model\.condition: must be one of"),
        ({"model__name": "cvae", "model__condition": None}, r"^model\.condition: a cvae needs"),
        ({"model__name": "cvae", "model__condition": "language", "evaluate__target": "language"},
         r"^model\.condition: .*'language'.*evaluate\.target"),
        ({"model__name": "cvae", "model__condition": "source", "evaluate__target": "source"},
         r"^model\.condition: .*'source'"),
        ({"model__free_bits": -0.1}, r"^model\.free_bits: must be >= 0"),
        ({"model__name": "cvae", "model__condition": "language", "model__mmd_weight": -1.0},
         r"^model\.mmd_weight: must be >= 0"),
        ({"model__name": "vae", "model__mmd_weight": 10.0}, r"^model\.mmd_weight: only a cvae"),
        ({"model__input_dropout": 1.0}, r"^model\.input_dropout: must be in \[0, 1\)"),
        ({"model__input_dropout": -0.1}, r"^model\.input_dropout: must be in \[0, 1\)"),
        ({"model__pretrain_epochs": -1}, r"^model\.pretrain_epochs: must be >= 0"),
        ({"model__n_components": 1}, r"^model\.n_components: must be >= 2"),
        ({"train__kl_warmup_epochs": -2}, r"^train\.kl_warmup_epochs: must be >= 0"),
        ({"evaluate__target": "mood"}, r"^evaluate\.target: must be one of"),
        ({"model__name": "conv_vae", "model__input": "mel", "model__whiten": True},
         r"^model\.whiten: whitening applies to feature vectors"),
        ({"model__whiten": "yes"}, r"^model\.whiten: "),
        ({"model__name": "conv_vae", "model__input": "mel", "data__name": "features_table",
          "data__root": "x"}, r"^model\.input: a feature table has no audio"),
    ],
)
def test_model_validation_names_the_key(params, edits, message):
    """Cross-field model rules: conv_vae <-> mel, cvae condition (a known label, never the
    evaluation target), and ranges of the new keys."""
    with pytest.raises(ConfigError, match=message):
        from_dict(_model_edits(params, **edits))


@pytest.mark.parametrize(
    "edits",
    [
        {"model__name": "conv_vae", "model__input": "mel"},
        {"model__name": "cvae", "model__condition": "language"},
        {"model__name": "cvae", "model__condition": "language", "evaluate__target": "source"},
        {"model__name": "cvae", "model__condition": "source", "evaluate__target": "language"},
        {"model__name": "cvae", "model__condition": "language", "model__mmd_weight": 100.0},
        {"model__name": "vade", "model__n_components": 2, "model__pretrain_epochs": 0},
        {"model__name": "ae", "model__input": "audio", "model__condition": "language"},
        {"model__name": "vade", "model__input": "audio", "model__whiten": True},
    ],
)
def test_valid_model_settings_are_accepted(params, edits):
    """The counterparts of the refused settings load."""
    cfg = from_dict(_model_edits(params, **edits))
    assert cfg.model.name == edits["model__name"]


def test_latent_size_is_one_top_level_key(tmp_path):
    """`latent_dim` alone sets the latent size (one params column in `dvc exp show`); an
    older params file that repeats it under model is accepted when the two agree."""
    path = compose_params(["latent_dim=12"], conf_dir=CONF, output=tmp_path / "p.yaml")
    raw = yaml.safe_load(path.read_text())
    assert raw["latent_dim"] == 12 and "latent_dim" not in raw["model"]
    assert load_config(path).model.latent_dim == 12
    raw["model"]["latent_dim"] = 12
    assert from_dict(raw).model.latent_dim == 12
