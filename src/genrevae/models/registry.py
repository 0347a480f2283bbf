"""Model name (``model.name`` in params) -> a built model."""

from __future__ import annotations

from genrevae.config import ModelConfig
from genrevae.errors import ConfigError
from genrevae.models.base import LatentModel
from genrevae.models.conv_vae import ConvVAE
from genrevae.models.names import MODEL_NAMES
from genrevae.models.vade import VaDE
from genrevae.models.vae import AE, VAE

# The one list of names is MODEL_NAMES, kept apart and free of torch so that validating
# model.name (every stage, the check stage alone included) does not import the models; the
# registry is built from it, so a name added there without a class here fails this import.
_CLASSES: dict[str, type[LatentModel]] = {
    "vae": VAE, "conv_vae": ConvVAE, "cvae": VAE, "vade": VaDE, "ae": AE,
}
MODELS: dict[str, type[LatentModel]] = {name: _CLASSES[name] for name in MODEL_NAMES}


def build_model(
    cfg: ModelConfig, input_shape: tuple[int, ...], *, n_conditions: int = 0,
    n_components: int = 10,
) -> LatentModel:
    """``input_shape`` is (d,) for feature vectors and (n_mels, frames) for ``conv_vae``;
    ``n_conditions`` is the size of the cvae's one-hot condition; ``n_components`` the
    number of mixture components of ``vade``.

    Raises
    ------
    ConfigError
        ``latent_dim`` is wider than a feature-vector input.
    """
    if cfg.name not in MODELS:
        raise ValueError(f"unknown model {cfg.name!r}; known: {sorted(MODELS)}")
    model = _build(cfg, tuple(input_shape), n_conditions, n_components)
    model.build_args = {"input_shape": list(input_shape), "n_conditions": n_conditions,
                        "n_components": n_components}
    return model


def _build(cfg: ModelConfig, input_shape: tuple[int, ...], n_conditions: int,
           n_components: int) -> LatentModel:
    if cfg.name == "conv_vae":
        return ConvVAE(tuple(input_shape), cfg.latent_dim, channels=cfg.channels,
                       dropout=cfg.dropout, pool=cfg.pool)
    (input_dim,) = input_shape
    # The input's width is known only once fuse has run (the lyrics SVD may keep fewer
    # dimensions than lyrics.dim), so this rule is checked here rather than in config.
    if cfg.latent_dim > input_dim:
        raise ConfigError(f"latent_dim: must not exceed the {input_dim} features of "
                          f"model.input={cfg.input}, got {cfg.latent_dim}")
    if cfg.name == "cvae":
        return VAE(input_dim, cfg.latent_dim, cfg.hidden_dims, cfg.dropout,
                   n_conditions=n_conditions, whiten=cfg.whiten)
    if cfg.name == "vade":
        return VaDE(input_dim, cfg.latent_dim, cfg.hidden_dims, cfg.dropout,
                    n_components=n_components, whiten=cfg.whiten)
    return MODELS[cfg.name](input_dim, cfg.latent_dim, cfg.hidden_dims, cfg.dropout,
                            whiten=cfg.whiten)
