"""The ``model`` and ``train`` sections: which model reads which input, and how it is
trained; each dataclass validates its own keys."""

from __future__ import annotations

from dataclasses import dataclass

from genrevae.config.build import at_most, fail, non_negative, one_of, positive
from genrevae.devices import DEVICES
from genrevae.models.names import MODEL_NAMES

MODEL_INPUTS = ("audio", "lyrics", "hybrid", "mel")
# Labels a cvae may be conditioned on.
CONDITION_LABELS = ("language", "source")
# Bounds on sizes (see SAMPLE_RATE_RANGE in build.py for why). MAX_LATENT_DIM bounds the
# top-level latent_dim, which the model section takes its latent size from; its lower
# bound is what evaluate's 2-D drawings of the latent space need.
MIN_LATENT_DIM = 2
MAX_LATENT_DIM = 1024
MAX_HIDDEN_WIDTH = 16384
MAX_CONV_CHANNELS = 4096
MAX_POOL = 16
MAX_EPOCHS = 100_000
MAX_BATCH_SIZE = 65536
MAX_LR = 10.0


def _widths(key: str, widths: tuple[int, ...], maximum: int, layer: str) -> None:
    """A non-empty list of layer widths, each positive and at most ``maximum``."""
    if not widths:
        fail(key, f"needs at least one {layer}")
    for i, width in enumerate(widths):
        positive(f"{key}[{i}]", width)
        at_most(f"{key}[{i}]", width, maximum)


@dataclass(frozen=True)
class ModelConfig:
    name: str
    # audio | lyrics | hybrid (feature vectors) or mel (log-mel segments, conv_vae only)
    input: str
    latent_dim: int
    hidden_dims: tuple[int, ...]
    beta: float
    dropout: float
    # Minimum KL per latent dimension (nats) below which it is not penalised; 0 = off.
    free_bits: float
    # cvae: the label the model is conditioned on (never the evaluation target).
    condition: str | None
    # vade: mixture components; null = the number of genres.
    n_components: int | None
    # vade: autoencoder epochs before the mixture prior is fit and the KL switched on.
    pretrain_epochs: int
    # Feature-vector models: whiten the input with the train split's covariance and measure
    # reconstruction error in the whitened space (a Gaussian decoder whose noise covariance
    # is the data's), so low-variance directions count as much as dominant ones.
    whiten: bool
    # Denoising: in training, each entry of the encoder's input is set to the train mean (0
    # after standardisation) with this probability, and the decoder reconstructs the clean
    # input; 0 = off. Validation, latents and predict always see the clean input.
    input_dropout: float = 0.0
    # cvae: weight of a penalty on how far each condition group's latent means lie from
    # the batch's (maximum mean discrepancy, genrevae.models.base.condition_mmd), so the
    # clusters stop following the condition; 0 = off.
    mmd_weight: float = 0.0
    # conv_vae: the encoder's convolution widths (the decoder mirrors them) and the
    # average pooling of the log-mel before them. These defaults are the network a
    # checkpoint saved before the keys existed holds; conf/model/conv_vae.yaml sets the
    # leaner default (genrevae.models.conv_vae).
    channels: tuple[int, ...] = (32, 64, 128)
    pool: int = 1

    def check(self) -> None:
        one_of("model.name", self.name, MODEL_NAMES)
        one_of("model.input", self.input, MODEL_INPUTS)
        if (self.name == "conv_vae") != (self.input == "mel"):
            fail("model.input", "conv_vae reads input 'mel', and only conv_vae does; "
                                f"got model.name={self.name}, model.input={self.input}")
        if self.whiten and self.input == "mel":
            fail("model.whiten", "whitening applies to feature vectors, not to log-mel input")
        non_negative("model.free_bits", self.free_bits)
        non_negative("model.pretrain_epochs", self.pretrain_epochs)
        if self.n_components is not None and self.n_components < 2:
            fail("model.n_components", f"must be >= 2, got {self.n_components}")
        if self.name == "cvae":
            if self.condition is None:
                fail("model.condition", "a cvae needs a label to condition on")
            one_of("model.condition", self.condition, CONDITION_LABELS)
        non_negative("model.mmd_weight", self.mmd_weight)
        if self.mmd_weight > 0 and self.name != "cvae":
            fail("model.mmd_weight", f"only a cvae has a condition to make its latent "
                                     f"invariant to (model.name={self.name}); set it to 0")
        _widths("model.hidden_dims", self.hidden_dims, MAX_HIDDEN_WIDTH, "hidden layer")
        non_negative("model.beta", self.beta)
        if not 0.0 <= self.dropout < 1.0:
            fail("model.dropout", f"must be in [0, 1), got {self.dropout}")
        if not 0.0 <= self.input_dropout < 1.0:
            fail("model.input_dropout", f"must be in [0, 1), got {self.input_dropout}")
        _widths("model.channels", self.channels, MAX_CONV_CHANNELS, "convolution")
        positive("model.pool", self.pool)
        at_most("model.pool", self.pool, MAX_POOL)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    patience: int
    # Epochs over which the KL weight ramps linearly from 0 to model.beta; 0 = off.
    kl_warmup_epochs: int
    device: str

    def check(self) -> None:
        for name in ("epochs", "batch_size", "lr", "patience"):
            positive(f"train.{name}", getattr(self, name))
        at_most("train.epochs", self.epochs, MAX_EPOCHS)
        at_most("train.batch_size", self.batch_size, MAX_BATCH_SIZE)
        at_most("train.lr", self.lr, MAX_LR)
        non_negative("train.weight_decay", self.weight_decay)
        non_negative("train.kl_warmup_epochs", self.kl_warmup_epochs)
        one_of("train.device", self.device, DEVICES)
