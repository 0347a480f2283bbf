"""The loader module MLflow names in a genrevae model's MLmodel (``loader_module``): it
turns the model's data folder into the predictor `genrevae predict` uses, after checking
every file against the digests recorded in the tracking store.

Requests: one row per song, ``audio`` its encoded bytes (in JSON, base64 in
``dataframe_split`` or ``dataframe_records``: MLflow's scoring server decodes a ``binary``
column so), ``name`` optional. Answers: per song what `genrevae predict` prints, with
``model`` naming the run, version, data and genres. A song that is not audio, too short,
silent or too large is a 400 whose JSON ``reason`` is one line.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from genrevae.errors import AudioError, GenreVAEError
from genrevae.serving.bundle import synthetic_warning
from genrevae.serving.payload import max_bytes, predict_bytes
from genrevae.serving.predict import Predictor

log = logging.getLogger(__name__)


class GenreModel:
    """What MLflow's pyfunc wrapper calls ``predict`` on."""

    def __init__(self, predictor: Predictor, info: dict[str, Any], limit: int) -> None:
        self.predictor, self.info, self.limit = predictor, info, limit

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        import pandas as pd
        from mlflow.exceptions import MlflowException
        from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

        frame = model_input if isinstance(model_input, pd.DataFrame) else \
            pd.DataFrame(model_input)
        if "audio" not in frame:
            raise MlflowException("expected a column 'audio' (the song's bytes, base64 in JSON)",
                                  error_code=INVALID_PARAMETER_VALUE)
        rows = []
        names = frame["name"] if "name" in frame else [None] * len(frame)
        for i, (audio, name) in enumerate(zip(frame["audio"], names, strict=True)):
            label = name if isinstance(name, str) and name else f"row {i}"
            try:
                prediction = predict_bytes(self.predictor, audio, label, limit=self.limit)
            except (GenreVAEError, ValueError) as exc:
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                code = exc.reason if isinstance(exc, AudioError) else "invalid"
                # MLflow prefixes the message with the request's repr; `reason` stays one line.
                raise MlflowException(reason, error_code=INVALID_PARAMETER_VALUE, reason=reason,
                                      reason_code=code) from None
            rows.append({**prediction.as_dict(), "model": self.info})
        return pd.DataFrame(rows, columns=["track", "top_genre", "nearest_cluster",
                                           "n_segments", "probabilities", "latent", "model"])


def _load_pyfunc(data_path: str, model_config: dict | None = None) -> GenreModel:
    """MLflow's entry point: ``data_path`` is the model's ``data/model`` folder."""
    from genrevae.tracking.registry import load, recorded_for

    folder = Path(data_path)
    root = folder.parent.parent
    run_id, digests, version = recorded_for(root)
    predictor, info = load(folder, digests=digests, version=version,
                           what=f"MLflow model of run {run_id}")
    if (warning := synthetic_warning(info)) is not None:
        log.warning("%s", warning)
        info = {**info, "warning": warning}
    return GenreModel(predictor, info, max_bytes())
