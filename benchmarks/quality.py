"""Quality benchmark: every model variant against the raw-feature and PCA baselines on a
Kaggle-format feature table, with the same seed and the same split.

It runs the pipeline's own stage scripts in a scratch folder: prepare, extract_audio,
embed_lyrics and fuse once on the table (data=features_table), then train, cluster and
evaluate once per model. It prints one table (NMI and ARI of K-Means on the test split,
linear-probe track accuracy) and ends with one JSON line per row; the baselines appear as
``raw`` and ``pca`` (taken from the first model's run: they do not depend on the model).

    python benchmarks/quality.py --table ../shared/data/gtzan_features_30_sec.csv
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from genrevae.cli import compose_params  # noqa: E402

FEATURE_STAGES = ("prepare", "extract_audio", "embed_lyrics", "fuse")
MODEL_STAGES = ("train", "cluster", "evaluate")
# conv_vae needs log-mel spectrograms, which a feature table does not have.
TABLE_MODELS = ("vae", "cvae", "vade", "ae")


def run_stage(stage: str, workdir: Path, env: dict[str, str]) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "stages" / f"{stage}.py")], cwd=workdir,
                          env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"stage {stage} failed:\n{proc.stderr[-3000:]}")


def row(name: str, metrics: dict, rep: str) -> dict:
    km = metrics[rep]["kmeans"]["test"]
    return {"model": name, "nmi": round(km["nmi_genre"], 4), "ari": round(km["ari_genre"], 4),
            "probe_track_acc": round(metrics[rep]["probe"]["track_accuracy"], 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", required=True, type=Path,
                        help="a Kaggle-format feature table (features_30_sec.csv or _3_sec)")
    parser.add_argument("--label-column", default="label", help="the genre column (default: label)")
    parser.add_argument("--models", default=",".join(TABLE_MODELS),
                        help=f"comma-separated model variants (default: {','.join(TABLE_MODELS)})")
    parser.add_argument("--epochs", type=int, default=None, help="override train.epochs")
    parser.add_argument("--seed", type=int, default=None, help="override seed")
    parser.add_argument("--latent-dim", type=int, default=None, help="override latent_dim")
    parser.add_argument("-o", "--override", action="append", default=[],
                        help="extra Hydra override for every run, e.g. -o model.beta=0.5")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="scratch folder (default: a temporary one)")
    args = parser.parse_args()

    table = args.table.resolve()
    if not table.is_file():
        sys.exit(f"error: {table}: not found")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="genrevae-quality-"))
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "data" / "raw").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}",
           "MLFLOW_EXPERIMENT_NAME": "genrevae-quality"}
    common = ["data=features_table", f"data.root={table}",
              f"data.label_column={args.label_column}", *args.override]
    if args.epochs is not None:
        common.append(f"train.epochs={args.epochs}")
    if args.seed is not None:
        common.append(f"seed={args.seed}")
    if args.latent_dim is not None:
        common.append(f"latent_dim={args.latent_dim}")

    rows, baselines = [], None
    for i, name in enumerate(m.strip() for m in args.models.split(",")):
        if name not in TABLE_MODELS:
            print(f"skipping {name}: it needs audio, which a feature table does not have",
                  file=sys.stderr)
            continue
        compose_params([*common, f"model={name}"], conf_dir=ROOT / "conf",
                       output=workdir / "params.yaml")
        start = time.perf_counter()
        for stage in (*FEATURE_STAGES, *MODEL_STAGES) if i == 0 else MODEL_STAGES:
            run_stage(stage, workdir, env)
        metrics = json.loads((workdir / "metrics" / "eval.json").read_text())
        rows.append({**row(name, metrics, "latent"),
                     "seconds": round(time.perf_counter() - start, 1)})
        if baselines is None:
            baselines = [row("raw", metrics, "raw"), row("pca", metrics, "pca")]
            params = yaml.safe_load((workdir / "params.yaml").read_text())
            data = metrics["data"]
    if not rows:
        sys.exit("error: no model to run")
    rows += baselines

    print(f"\n{table.name}: {data['n_tracks']} tracks, {data['n_genres']} genres, "
          f"{data['n_test_segments']} test segments; seed {params['seed']}, "
          f"latent_dim {params['latent_dim']}, {params['train']['epochs']} epochs max")
    print(f"{'model':<8} {'NMI':>7} {'ARI':>7} {'probe acc':>10}")
    for r in rows:
        print(f"{r['model']:<8} {r['nmi']:>7.3f} {r['ari']:>7.3f} {r['probe_track_acc']:>10.3f}")
    for r in rows:
        print(json.dumps({k: r[k] for k in ("model", "nmi", "ari", "probe_track_acc")}))


if __name__ == "__main__":
    main()
