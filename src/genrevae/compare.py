"""`genrevae compare`: the headline of several runs side by side, as text and as a figure.

Runs are read from the MLflow store the pipeline logs to (see :mod:`genrevae.tracking`):
the newest finished runs, or the runs named on the command line (a run name, which is the
DVC experiment name for `dvc exp run`, or a run id).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from genrevae import tracking
from genrevae.errors import GenreVAEError
from genrevae.evaluation.headline import KEYS

# What identifies a run in the table, from its tags and params.
ID_COLUMNS = ("run", "model", "input", "z")
# The panels of the figure: the model's score beside the better baseline's.
PANELS = ("K-Means NMI (test tracks)", "K-Means ARI (test tracks)",
          "linear probe accuracy (test tracks)")


def _client_and_experiment(experiment: str):
    client = tracking.mlflow_client(tracking.tracking_uri())
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise GenreVAEError(f"no MLflow experiment {experiment!r} at {tracking.tracking_uri()}; "
                            "run the pipeline first (dvc repro)")
    return client, found.experiment_id


def find_runs(names: Sequence[str] = (), *, last: int = 5,
              experiment: str = tracking.EXPERIMENT) -> list:
    """The runs to compare, oldest first: those ``names`` (run names or ids, in the order
    given) or else the ``last`` newest finished runs."""
    try:
        client, exp_id = _client_and_experiment(experiment)
        if not names:
            runs = client.search_runs([exp_id], "attributes.status = 'FINISHED'",
                                      max_results=last, order_by=["attributes.start_time DESC"])
            return list(reversed(runs))
        out = []
        for name in names:
            quoted = name.replace("'", "\\'")
            hits = client.search_runs(
                [exp_id], f"attributes.run_name = '{quoted}'", max_results=1,
                order_by=["attributes.start_time DESC"]) or client.search_runs(
                [exp_id], f"attributes.run_id = '{quoted}'", max_results=1)
            if not hits:
                raise GenreVAEError(f"no run named {name!r} in MLflow experiment {experiment!r}")
            out.extend(hits)
        return out
    except GenreVAEError:
        raise
    except Exception as exc:  # the store is unreachable or refuses the query
        raise tracking.tracking_error(tracking.tracking_uri(), exc) from exc


def headline_frame(runs: Sequence) -> pd.DataFrame:
    """One row per run: its name, model, input and latent size, then the headline."""
    rows = []
    for run in runs:
        tags, params, metrics = run.data.tags, run.data.params, run.data.metrics
        rows.append({
            "run": run.info.run_name,
            "model": tags.get("model", params.get("model.name", "")),
            "input": tags.get("input", params.get("model.input", "")),
            "z": params.get("latent_dim", params.get("model.latent_dim", "")),
            **{key: metrics.get(key) for key in KEYS},
        })
    return pd.DataFrame(rows, columns=[*ID_COLUMNS, *KEYS])


def format_table(frame: pd.DataFrame) -> str:
    """Fixed-width text, one run a line; each score next to its better baseline and margin."""
    def cell(key: str, value) -> str:
        if value is None or pd.isna(value):
            return "-"
        if key in ("active", "epoch"):
            return str(int(value))
        if key.endswith("_gain"):
            return f"{value:+.3f}"
        return f"{value:.3f}"

    header = list(frame.columns)
    body = [[str(row[c]) if c in ID_COLUMNS else cell(c, row[c]) for c in header]
            for _, row in frame.iterrows()]
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h)
              for i, h in enumerate(header)]
    def line(cells):
        return "  ".join(c.ljust(w) if i < len(ID_COLUMNS) else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, body)])


def compare_figure(frame: pd.DataFrame, path: str | Path) -> None:
    """Per panel (NMI, ARI, probe), each run's score beside its better baseline."""
    from genrevae import plots

    def values(column):
        return [None if pd.isna(v) else float(v) for v in column]

    probe_base = frame["probe"] - frame["probe_gain"]
    pairs = ((frame["nmi"], frame["nmi_base"]), (frame["ari"], frame["ari_base"]),
             (frame["probe"], probe_base))
    panels = [(title, values(model), values(base))
              for title, (model, base) in zip(PANELS, pairs, strict=True)]
    plots.paired_bars(frame["run"].tolist(), panels, path,
                      labels=("model", "better baseline (PCA, whitened PCA or raw)"))
