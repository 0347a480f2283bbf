"""New songs -> genre probabilities, the nearest cluster and latent coordinates.

A song goes through the same steps as the pipeline's tracks: decode, mono, resample,
3-s segments (a song shorter than one segment is zero-padded to one, if it fills at least
half of it), the same features with the train-split scalers saved in the checkpoint, the
model's posterior means, the linear probe fit by ``evaluate``. Per track, segment
probabilities are averaged.

A song is decoded as a stream and its segments go through features and model a batch at a
time, so memory stays the same for a 30-s clip and an hour-long recording.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genrevae.data.audio import cut_segments, segment_length, stream_audio
from genrevae.errors import AudioError, DataError
from genrevae.features.audio import batch_features
from genrevae.inputs.transform import InputTransform
from genrevae.io import damaged, load_json
from genrevae.models.checkpoint import load_model

log = logging.getLogger(__name__)

MODEL_FILE = "model.pt"
PROBE_FILE = "probe.json"
# Segments through features and model at once (about a minute of audio), and seconds of
# audio decoded at a time: together they bound memory whatever the song's length.
BATCH_SEGMENTS = 20
BLOCK_SECONDS = 30.0
# The share of one segment a song shorter than a segment must fill. The pipeline drops such
# songs; predict pads them, but below half a segment the padding's silence, not the song,
# would make most of the frames the features summarise.
MIN_SEGMENT_SHARE = 0.5


@dataclass(frozen=True)
class Prediction:
    path: str
    n_segments: int
    probabilities: dict[str, float]
    top: str
    nearest_cluster: int | None
    latent: list[float]

    def as_dict(self) -> dict:
        return {"track": self.path, "top_genre": self.top, "nearest_cluster": self.nearest_cluster,
                "n_segments": self.n_segments, "probabilities": self.probabilities,
                "latent": self.latent}


PROBE_KEYS = ("classes", "scaler_mean", "scaler_scale", "coef", "intercept")


def check_probe(probe: object, path: Path, *, latent_dim: int) -> None:
    """Refuse a ``probe.json`` that does not hold what ``evaluate`` writes for a latent of
    ``latent_dim`` dimensions: arrays of finite numbers with matching shapes."""
    if not isinstance(probe, dict) or any(k not in probe for k in PROBE_KEYS):
        raise damaged(path, f"expected an object with keys {', '.join(PROBE_KEYS)}")
    classes = probe["classes"]
    if not isinstance(classes, list) or len(classes) < 2 or \
            not all(isinstance(c, str) for c in classes):
        raise damaged(path, "classes: expected a list of at least two names")
    rows = 1 if len(classes) == 2 else len(classes)  # binary logistic regression: one row
    shapes = {"scaler_mean": (latent_dim,), "scaler_scale": (latent_dim,),
              "coef": (rows, latent_dim), "intercept": (rows,)}
    centres = probe.get("cluster_centres") or {}
    if not isinstance(centres, dict) or not all(str(k).lstrip("-").isdigit() for k in centres):
        raise damaged(path, "cluster_centres: expected an object of cluster id -> centre")
    shapes.update({f"cluster_centres.{k}": (latent_dim,) for k in centres})
    for key, shape in shapes.items():
        value = centres[key.split(".", 1)[1]] if key.startswith("cluster_") else probe[key]
        try:
            array = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            array = None
        if array is None or array.shape != shape or not np.isfinite(array).all():
            raise damaged(path, f"{key}: expected {shape} finite numbers")


class Predictor:
    """The artifacts of the last ``dvc repro`` in ``model_dir`` (model.pt, probe.json)."""

    def __init__(self, model_dir: str | Path, *, condition: str | None = None) -> None:
        model_dir = Path(model_dir)
        for name in (MODEL_FILE, PROBE_FILE):
            if not (model_dir / name).is_file():
                raise DataError(f"{model_dir / name}: not found; run `dvc repro` first")
        self.model, self.model_cfg, self.meta = load_model(model_dir / MODEL_FILE)
        self.transform = InputTransform.from_record(self.meta)
        self.probe = load_json(model_dir / PROBE_FILE)
        check_probe(self.probe, model_dir / PROBE_FILE, latent_dim=self.model.latent_dim)
        t = self.transform
        if t.kind == "lyrics":
            raise DataError("this model reads lyrics only; predict works from audio "
                            "(model.input audio, hybrid or mel)")
        if t.kind == "hybrid" and self.model_cfg.whiten:
            # Whitening mixes the lyrics block into every direction, and a new song has
            # no lyrics: trained on fully observed rows, the model never saw that case.
            raise DataError("this model whitens hybrid input, which needs lyrics; predict "
                            "works from audio (train with model.input=audio to predict)")
        self.condition = None
        if condition is not None and not t.condition_categories:
            raise DataError("--condition applies to a cvae only; this model is "
                            f"{self.model_cfg.name!r}")
        if t.condition_categories:
            value = condition or t.condition_default
            if value not in t.condition_categories:
                raise DataError(f"--condition {value!r} is not one of "
                                f"{t.condition_categories}")
            self.condition = value
        centres = self.probe.get("cluster_centres") or {}
        self.cluster_ids = [int(k) for k in centres]
        self.centres = np.array([centres[k] for k in centres]) if centres else None

    def segment_batches(self, path: str | Path,
                        batch: int = BATCH_SEGMENTS) -> Iterator[np.ndarray]:
        """The song's full segments, in order, at most ``batch`` at a time (shape (k, n)),
        from the decoded stream (its first ``features.max_seconds``, as the pipeline reads
        its tracks); a song shorter than one segment is zero-padded to one, and
        refused (AudioError ``too_short``) below :data:`MIN_SEGMENT_SHARE` of one."""
        f = self.transform.features
        length = segment_length(sr=f["sample_rate"], seconds=f["segment_seconds"])
        carry, any_full = np.zeros(0, dtype=np.float32), False
        # A checkpoint from before features.max_seconds read whole songs.
        for block in stream_audio(path, sr=f["sample_rate"], block_seconds=BLOCK_SECONDS,
                                  max_seconds=f.get("max_seconds")):
            buf = np.concatenate([carry, block])
            full = cut_segments(buf, sr=f["sample_rate"], seconds=f["segment_seconds"])
            for first in range(0, len(full), batch):
                yield full[first : first + batch]
            carry, any_full = buf[full.size :], any_full or len(full) > 0
        if not any_full:
            if len(carry) < MIN_SEGMENT_SHARE * length:
                raise AudioError(f"{path}: {len(carry) / f['sample_rate']:.2f} s fills less than "
                                 f"{MIN_SEGMENT_SHARE:.0%} of one {f['segment_seconds']:g}-s "
                                 "segment", "too_short")
            yield np.pad(carry, (0, length - len(carry)))[None, :]

    def model_input(self, segments: np.ndarray) -> np.ndarray:
        """The model's input for each of ``segments`` (k, n) of a song."""
        f = self.transform.features
        mels, feats = batch_features(segments, sr=f["sample_rate"], n_fft=f["n_fft"],
                                     hop_length=f["hop_length"], n_mels=f["n_mels"],
                                     n_mfcc=f["n_mfcc"])
        return self.transform.from_audio(mels, feats)

    def _latents_and_proba(self, segments: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = self.model_input(segments)
        c = None
        if self.condition is not None:
            c = self.transform.conditions(np.array([self.condition] * len(x)))
        z = self.model.latent_means(x, c)
        zs = (z - np.asarray(self.probe["scaler_mean"])) / np.asarray(self.probe["scaler_scale"])
        logits = zs @ np.asarray(self.probe["coef"]).T + np.asarray(self.probe["intercept"])
        if logits.shape[1] == 1:  # binary logistic regression stores one column
            logits = np.concatenate([-logits, logits], axis=1) / 2
        proba = np.exp(logits - logits.max(axis=1, keepdims=True))
        proba /= proba.sum(axis=1, keepdims=True)
        return z, proba

    def predict(self, path: str | Path) -> Prediction:
        z_sum, proba_sum, n = 0.0, 0.0, 0
        for segments in self.segment_batches(path):
            z, proba = self._latents_and_proba(segments)
            z_sum = z_sum + z.sum(axis=0, dtype=np.float64)
            proba_sum = proba_sum + proba.sum(axis=0, dtype=np.float64)
            n += len(z)
        mean_proba, z_mean = proba_sum / n, z_sum / n
        classes = self.probe["classes"]
        nearest = None
        if self.centres is not None:
            nearest = self.cluster_ids[int(np.argmin(((self.centres - z_mean) ** 2).sum(axis=1)))]
        return Prediction(
            path=str(path), n_segments=n,
            probabilities={c: round(float(p), 6) for c, p in zip(classes, mean_proba, strict=True)},
            top=classes[int(mean_proba.argmax())], nearest_cluster=nearest,
            latent=[round(float(v), 6) for v in z_mean],
        )
