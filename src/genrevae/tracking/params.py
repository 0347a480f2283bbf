"""A run's params as MLflow records them: the params tree flattened to dotted keys, made
to fit MLflow's rules for a param's name and value, and the digest that identifies a
configuration (the whole params.yaml), by which a run is found again."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

# The params logged under another name than their dotted key (see mlflow_params).
RENAMED_TAG = "genrevae.renamed_params"
# MLflow's rule for a param name (mlflow.utils.validation: _validate_param_name, on POSIX)
# is these characters, at most MAX_NAME of them; "/" is also allowed there, but a name
# holding one must not change under path normalisation, so a name written from user data
# (a genre_map key) loses its slashes with the other characters.
_NOT_IN_NAME = re.compile(r"[^\w.\- :]")
MAX_NAME = 250
MAX_VALUE = 6000


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists and scalars are leaves."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def params_digest(params: Mapping[str, Any]) -> str:
    """A short hash of the composed params (the whole params.yaml), flattened and sorted."""
    import hashlib

    text = json.dumps(flatten(params), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def mlflow_params(params: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """The params tree as MLflow params: ``(params, renamed)``.

    Keys are the dotted paths of :func:`flatten`; values are strings of at most MLflow's
    6000 characters. A key MLflow would refuse, one holding a user's name (a
    ``data.genre_map`` key such as ``"R&B"``), is logged under a name with each character
    outside MLflow's set replaced by ``_`` (``data.genre_map.R_B``), shortened to 250
    characters; where that name is taken, a hash of the key is appended. ``renamed`` maps
    each such name back to its key (the run's ``genrevae.renamed_params`` tag)."""
    flat = {k: str(v)[:MAX_VALUE] for k, v in flatten(params).items()}
    valid = {k for k in flat if _mlflow_name(k) == k}
    out = {k: flat[k] for k in sorted(valid)}
    renamed: dict[str, str] = {}
    for key in sorted(set(flat) - valid):
        name = _mlflow_name(key)
        if name in out:
            digest = hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()[:8]
            name = f"{_mlflow_name(key, MAX_NAME - 9)}-{digest}"
        out[name] = flat[key]
        renamed[name] = key
    return out, renamed


def _mlflow_name(key: str, limit: int = MAX_NAME) -> str:
    name = _NOT_IN_NAME.sub("_", key)[:limit] or "_"
    return "_" + name[1:] if name.startswith(".") else name
