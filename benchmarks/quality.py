"""Quality benchmark: every model variant against the raw-feature and PCA baselines on a
Kaggle-format feature table, with the same seeds and the same splits.

It runs the pipeline's own stage scripts in a scratch folder. For each seed (the seed
draws the track split as well as the initialisation) it runs prepare, extract_audio,
embed_lyrics and fuse once on the table (data=features_table), then train, cluster and
evaluate once per model. A single 15 % test split of GTZAN is about 150 tracks, one track
moving the probe accuracy by 0.7 points, so the table reports the mean and standard
deviation over the seeds and, per model, its paired margin over the better baseline of
each seed: in how many seeds it beat both, the mean margin and its 95 % t-interval (each
JSON line also lists the per-seed values, in seed order). The
baselines appear as ``raw`` and ``pca`` (taken from the first model's run of each seed:
they do not depend on the model; ``pca`` has the same number of dimensions as the latent).
It ends with one JSON line per row.

    python benchmarks/quality.py --table ../shared/data/gtzan_features_30_sec.csv
    python benchmarks/quality.py --table ../shared/data/gtzan_features_30_sec.csv \
        -o experiment=feature_table      # the preset for small tables (conf/experiment/)
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from genrevae.compose import compose_params  # noqa: E402

log = logging.getLogger("quality")

FEATURE_STAGES = ("prepare", "extract_audio", "embed_lyrics", "fuse")
MODEL_STAGES = ("train", "cluster", "evaluate")
# conv_vae needs log-mel spectrograms, which a feature table does not have.
TABLE_MODELS = ("vae", "cvae", "vade", "ae")
BASELINES = ("raw", "pca", "pca_white")
METRICS = ("nmi", "ari", "probe_track_acc")
LABELS = ("NMI", "ARI", "probe acc")  # METRICS as the table heads them


def run_stage(stage: str, workdir: Path, env: dict[str, str]) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "stages" / f"{stage}.py")], cwd=workdir,
                          env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"stage {stage} failed:\n{proc.stderr[-3000:]}")


def scores(metrics: dict, rep: str) -> dict[str, float]:
    """Track level on the test split: NMI/ARI against genre of K-Means on each track's mean
    row (the headline's clustering), and the probe's track accuracy."""
    km = metrics[rep]["track"]["mean"]["test"]
    return {"nmi": km["nmi_genre"], "ari": km["ari_genre"],
            "probe_track_acc": metrics[rep]["probe"]["track_accuracy"]}


def t_interval(values: list[float], level: float = 0.95) -> list[float] | None:
    """[low, high]: the Student-t confidence interval of the mean of ``values``; None for a
    single value, which has no spread to go on."""
    if len(values) < 2:
        return None
    mean = statistics.fmean(values)
    half = (stats.t.ppf(0.5 + level / 2, df=len(values) - 1)
            * statistics.stdev(values) / math.sqrt(len(values)))
    return [round(mean - half, 4), round(mean + half, 4)]


def summarise(runs: dict[str, list[dict[str, float]]], models: list[str]) -> list[dict]:
    """One row per model and baseline: mean and (with 2+ seeds) sample standard deviation of
    each metric. For a model, per metric and seed, its margin over the better of the two
    baselines in that seed: in how many seeds it is positive (``_wins``), its mean
    (``_margin``) and the 95 % t-interval of that mean (``_margin_ci``). The margin is
    paired (same split, same seed), so the spread between splits, which moves every
    representation together, does not hide it."""
    rows = []
    for name in [*models, *BASELINES]:
        per_seed = runs[name]
        row: dict = {"model": name}
        for key in METRICS:
            values = [r[key] for r in per_seed]
            row[key] = round(statistics.fmean(values), 4)
            row[f"{key}_sd"] = round(statistics.stdev(values), 4) if len(values) > 1 else 0.0
        if name not in BASELINES:
            for key in METRICS:
                margins = [r[key] - max(runs[b][i][key] for b in BASELINES)
                           for i, r in enumerate(per_seed)]
                row[f"{key}_wins"] = sum(m > 0 for m in margins)
                row[f"{key}_margin"] = round(statistics.fmean(margins), 4)
                row[f"{key}_margin_ci"] = t_interval(margins)
        row["seeds"] = len(per_seed)
        row["per_seed"] = {key: [round(r[key], 4) for r in per_seed] for key in METRICS}
        rows.append(row)
    return rows


def print_table(rows: list[dict], header: str) -> None:
    n = rows[0]["seeds"]
    print(f"\n{header}")
    print(f"{'model':<8} " + " ".join(f"{label:>15}" for label in LABELS)
          + f"   beat both baselines (of {n} seeds): " + " / ".join(LABELS))
    for r in rows:
        cells = " ".join(f"{r[k]:>7.3f} ± {r[f'{k}_sd']:.3f}" for k in METRICS)
        wins = "" if r["model"] in BASELINES else " / ".join(str(r[f"{k}_wins"]) for k in METRICS)
        print(f"{r['model']:<8} {cells}   {wins}")
    print("\nmargin over the better baseline of each seed: mean [95 % t-interval]")
    print(f"{'model':<8} " + " ".join(f"{label:>26}" for label in LABELS))
    for r in rows:
        if r["model"] in BASELINES:
            continue
        cells = []
        for k in METRICS:
            ci = r[f"{k}_margin_ci"]
            cells.append(f"{r[f'{k}_margin']:>+8.3f} " + (f"[{ci[0]:+.3f}, {ci[1]:+.3f}]"
                                                         if ci else f"{'[one seed]':>16}"))
        print(f"{r['model']:<8} {' '.join(cells)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", required=True, type=Path,
                        help="a Kaggle-format feature table (features_30_sec.csv or _3_sec)")
    parser.add_argument("--label-column", default="label", help="the genre column (default: label)")
    parser.add_argument("--models", default=",".join(TABLE_MODELS),
                        help=f"comma-separated model variants (default: {','.join(TABLE_MODELS)})")
    parser.add_argument("--seeds", default="42,43,44,45,46",
                        help="comma-separated seeds, each a different split and initialisation "
                             "(default: 42,43,44,45,46)")
    parser.add_argument("--epochs", type=int, default=None, help="override train.epochs")
    parser.add_argument("--latent-dim", type=int, default=None, help="override latent_dim")
    parser.add_argument("-o", "--override", action="append", default=[],
                        help="extra Hydra override for every run, e.g. -o model.beta=0.5")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="scratch folder (default: a temporary one)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    table = args.table.resolve()
    if not table.is_file():
        sys.exit(f"error: --table {table}: not found")
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        sys.exit(f"error: --seeds {args.seeds!r}: not a comma-separated list of integers")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    for name in models:
        if name not in TABLE_MODELS:
            sys.exit(f"error: --models: {name!r} is not one of {', '.join(TABLE_MODELS)} "
                     "(conv_vae needs audio, which a feature table does not have)")
    if not seeds or not models:
        sys.exit("error: nothing to run: give at least one seed and one model")

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="genrevae-quality-"))
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "data" / "raw").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}",
           "MLFLOW_EXPERIMENT_NAME": "genrevae-quality"}
    common = ["data=features_table", f"data.root={table}",
              f"data.label_column={args.label_column}", *args.override]
    if args.epochs is not None:
        common.append(f"train.epochs={args.epochs}")
    if args.latent_dim is not None:
        common.append(f"latent_dim={args.latent_dim}")

    runs: dict[str, list[dict[str, float]]] = {name: [] for name in [*models, *BASELINES]}
    started = time.perf_counter()
    for seed in seeds:
        for i, name in enumerate(models):
            compose_params([*common, f"seed={seed}", f"model={name}"], conf_dir=ROOT / "conf",
                           output=workdir / "params.yaml")
            for stage in (*FEATURE_STAGES, *MODEL_STAGES) if i == 0 else MODEL_STAGES:
                run_stage(stage, workdir, env)
            metrics = json.loads((workdir / "metrics" / "eval.json").read_text())
            runs[name].append(scores(metrics, "latent"))
            if i == 0:
                for base in BASELINES:
                    runs[base].append(scores(metrics, base))
            log.info("seed %d %-5s NMI %.3f probe %.3f (raw %.3f / pca %.3f)  [%.0f s]", seed,
                     name, runs[name][-1]["nmi"], runs[name][-1]["probe_track_acc"],
                     runs["raw"][-1]["probe_track_acc"], runs["pca"][-1]["probe_track_acc"],
                     time.perf_counter() - started)
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    data = metrics["data"]

    rows = summarise(runs, models)
    print_table(rows, f"{table.name}: {data['n_tracks']} tracks, {data['n_genres']} genres, "
                      f"~{data['n_test_segments']} test segments per split; seeds "
                      f"{','.join(map(str, seeds))}, latent_dim {params['latent_dim']}, "
                      f"{params['train']['epochs']} epochs max"
                      + (f"; overrides {' '.join(args.override)}" if args.override else "")
                      + "; mean ± sd over seeds")
    for r in rows:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
