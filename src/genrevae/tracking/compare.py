"""`genrevae compare`: the headline of several runs side by side, as text and as a figure.

Runs are read from the MLflow store the pipeline logs to (see :mod:`genrevae.tracking`):
the newest finished runs, or the runs named on the command line (a run name, which is the
DVC experiment name for `dvc exp run`, or a run id). Runs that differ only in their seed
are grouped into configurations and summarised over seeds (see
:mod:`genrevae.tracking.compare_seeds`); the per-run table stays available.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from genrevae import tracking
from genrevae.errors import GenreVAEError
from genrevae.evaluation.headline import KEYS
from genrevae.tracking.compare_seeds import SCORES, Configuration, DataSet, RunRecord, t_interval

# What identifies a run in the table, from its tags and params.
ID_COLUMNS = ("run", "model", "input", "z", "seed", "n_test")
# Scores some runs carry beyond the headline keys of this version (chance-corrected and
# chance levels); shown after them, "-" where a run lacks one.
EXTRA_KEYS = ("ami", "ami_base", "ami_gain", "ami_lang", "nmi_chance", "ami_chance")
# Metric and tag by which evaluate flags a test set too small to say anything.
SMALL_METRIC, SMALL_TAG = "small_test", "genrevae.small_test"
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


def _dataset(run) -> tuple[DataSet, str]:
    """The data a run was scored on and its manifest digest: the run's dataset input where
    logged, else the data params."""
    import json

    params = run.data.params
    name, root, tracks, genres, digest = (params.get("data.name", ""),
                                          params.get("data.root", ""), "", "", "")
    inputs = getattr(run, "inputs", None)
    for item in getattr(inputs, "dataset_inputs", None) or []:
        ds = item.dataset
        digest, name = ds.digest or "", ds.name or name
        try:
            root = json.loads(ds.source or "{}").get("root", root) or root
            profile = json.loads(ds.profile or "{}")
        except (ValueError, AttributeError):
            profile = {}
        tracks, genres = str(profile.get("tracks", "")), str(profile.get("genres", ""))
        break
    if root in ("None", "null"):  # an unset root as flattened params spell it
        root = ""
    return DataSet(name, root, tracks, genres), digest


def records(runs: Sequence) -> list[RunRecord]:
    """The runs as compare reads them: params, metrics, data set, small-test flag."""
    out = []
    for run in runs:
        data, digest = _dataset(run)
        metrics, tags = run.data.metrics, run.data.tags
        small = metrics.get(SMALL_METRIC, 0.0) >= 0.5 or tags.get(SMALL_TAG) == "true"
        out.append(RunRecord(run.info.run_name, dict(run.data.params), dict(metrics), data,
                             digest, small, tags.get("git.commit", "")))
    return out


def score_keys() -> list[str]:
    """The number columns of the full table: the headline keys, then the extra ones."""
    return [k for k in dict.fromkeys((*KEYS, *EXTRA_KEYS)) if k not in ID_COLUMNS]


def headline_frame(runs: Sequence) -> pd.DataFrame:
    """One row per run: its name, model, input, latent size, seed and test size, then the
    headline and the scores of :data:`EXTRA_KEYS` that the headline keys lack."""
    keys = score_keys()
    rows = []
    for run in runs:
        tags, params, metrics = run.data.tags, run.data.params, run.data.metrics
        n_test = metrics.get("n_test")
        rows.append({
            "run": run.info.run_name,
            "model": tags.get("model", params.get("model.name", "")),
            "input": tags.get("input", params.get("model.input", "")),
            "z": params.get("latent_dim", params.get("model.latent_dim", "")),
            "seed": params.get("seed", "-"),
            "n_test": "-" if n_test is None else str(int(n_test)),
            **{key: metrics.get(key) for key in keys},
        })
    return pd.DataFrame(rows, columns=[*ID_COLUMNS, *keys])


def _cell(key: str, value) -> str:
    if value is None or pd.isna(value):
        return "-"
    if key in ("active", "epoch"):
        return str(int(value))
    if key.endswith("_gain"):
        return f"{value:+.3f}"
    return f"{value:.3f}"


def _columns(header: Sequence[str], body: Sequence[Sequence[str]], left: int) -> str:
    """Fixed-width text: the first ``left`` columns flush left, the rest flush right."""
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h)
              for i, h in enumerate(header)]

    def line(cells):
        return "  ".join(c.ljust(w) if i < left else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, body)])


def format_table(frame: pd.DataFrame) -> str:
    """Every headline number of every run, one run a line (wide: for --runs and pipes)."""
    header = list(frame.columns)
    body = [[str(row[c]) if c in ID_COLUMNS else _cell(c, row[c]) for c in header]
            for _, row in frame.iterrows()]
    return _columns(header, body, len(ID_COLUMNS))


# The few numbers per run beside the configurations: each score and its margin.
RUN_COLUMNS = ("nmi", "nmi_gain", "ami", "ami_gain", "ari", "probe", "probe_gain")


def format_runs(recs: Sequence[RunRecord], configs: Sequence[Configuration],
                name_width: int = 22) -> str:
    """One line per run, within 100 columns: configuration, seed, test tracks (``!`` when
    flagged too small), each score and its margin over the better baseline."""
    letter = {id(r): c.letter for c in configs for r in c.runs}
    letter.update({id(r): c.letter.lower() for c in configs for r in c.set_aside})
    # Grouped as the configurations are, each run again of a seed under the one it precedes.
    order = [r for c in configs for kept in c.runs
             for r in [kept, *(x for x in reversed(c.set_aside) if x.seed == kept.seed)]]
    body = []
    for r in order + [r for r in recs if id(r) not in {id(x) for x in order}]:
        name = r.name if len(r.name) <= name_width else r.name[:name_width - 1] + "~"
        n_test = r.value("n_test")
        test = ("-" if n_test is None else str(int(n_test))) + ("!" if r.small else "")
        body.append([name, letter.get(id(r), "?"), r.seed or "-", test,
                     *(_cell(k, r.margin(k[:-5]) if k.endswith("_gain") else r.value(k))
                       for k in RUN_COLUMNS)])
    return _columns(["run", "cfg", "seed", "test", *RUN_COLUMNS], body, 2)


def notes(recs: Sequence[RunRecord], configs: Sequence[Configuration]) -> list[str]:
    """The footnotes (lines within 100 columns): flagged runs, runs set aside, runs without
    the newer metrics."""
    from genrevae.tracking.compare_seeds import wrap

    out = []
    small = [r.name for r in recs if r.small]
    if small:
        out.append(f"! small test set (too few test tracks per genre, or a margin within the "
                   f"permutation spread): {', '.join(small)}; left out of the means, the "
                   "differences and the verdict")
    aside = [r.name for c in configs for r in c.set_aside]
    if aside:
        out.append(f"lower-case cfg: an older run of a seed run again, set aside for the "
                   f"newest: {', '.join(aside)}")
    if any(r.value("ami") is None for r in recs):
        out.append("- : not logged by that run (runs before ami, n_test and small_test)")
    return [line for note in out for line in wrap("", note)]


def verdict_score(recs: Sequence[RunRecord]) -> str:
    """AMI (chance-corrected) when every run has it, else NMI."""
    return "ami" if recs and all(r.value("ami") is not None for r in recs) else "nmi"


def interval_figure(configs: Sequence[Configuration], path: str | Path) -> None:
    """Per score, each configuration's mean over seeds with its 95 % interval, its seeds as
    dots (red crosses: small test sets, left out); below, the margin over the better
    baseline; with several configurations, a third row: each one's paired difference from
    the first, zero marked."""
    from genrevae import plots  # first: it picks the Agg backend
    from genrevae.tracking.compare_seeds import pairs

    first_pairs = [p for p in pairs(configs) if p.first is configs[0]]
    rows = [("score", lambda r, s: r.value(s)), ("margin over baseline", lambda r, s: r.margin(s))]
    fig, axes = plots.plt.subplots(2 + bool(first_pairs), len(SCORES), squeeze=False,
                                   figsize=(3.2 * len(SCORES), 3.0 * (2 + bool(first_pairs))))
    for col, score in enumerate(SCORES):
        for row, (what, get) in enumerate(rows):
            ax = axes[row][col]
            for i, c in enumerate(configs):
                kept = [v for r in c.summarised if (v := get(r, score)) is not None]
                flagged = [v for r in c.runs if r not in c.summarised
                           and (v := get(r, score)) is not None]
                ax.scatter([i] * len(kept), kept, s=12, color="0.6", zorder=2)
                ax.scatter([i] * len(flagged), flagged, s=20, color="tab:red", marker="x",
                           zorder=2)
                _errorbar(ax, i, t_interval(kept))
            _axis(ax, f"{score}: {what}", [c.letter for c in configs], zero=row == 1,
                  empty=all(get(r, score) is None for c in configs for r in c.runs))
        if first_pairs:
            ax = axes[2][col]
            for i, p in enumerate(first_pairs):
                _errorbar(ax, i, p.diffs[score] if p.same_data else None)
            _axis(ax, f"{score}: paired difference", [f"{p.second.letter}-{p.first.letter}"
                                                      for p in first_pairs], zero=True,
                  empty=not any(p.diffs[score] for p in first_pairs))
    legend = "; ".join(f"{c.letter}: {c.label} ({len(c.summarised)} seeds)" for c in configs)
    fig.suptitle("mean and 95 % t-interval over seeds (grey: each seed; red x: small test "
                 f"set, left out)\n{legend}", fontsize=8)
    fig.tight_layout()
    plots.save_figure(fig, path)


def _errorbar(ax, x: int, iv) -> None:
    if iv is None:
        return
    err = None if iv.low is None else [[iv.mean - iv.low], [iv.high - iv.mean]]
    ax.errorbar([x], [iv.mean], yerr=err, fmt="o", color="tab:blue", capsize=5, zorder=3)


def _axis(ax, title: str, ticks: Sequence[str], *, zero: bool, empty: bool) -> None:
    if empty:  # a score none of these runs logged (older runs: ami)
        ax.text(0.5, 0.5, "not logged by these runs", ha="center", va="center",
                transform=ax.transAxes, fontsize=8, color="0.4")
    if zero:
        ax.axhline(0.0, color="0.3", linewidth=0.8, linestyle="--")
    ax.set_title(title, fontsize=9)
    ax.set_xticks(range(len(ticks)), ticks)
    ax.set_xlim(-0.6, len(ticks) - 0.4)


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
