"""Quality benchmark: model variants against the raw-input, PCA and whitened-PCA baselines,
with the same seeds and splits, on a Kaggle-format feature table or on an audio corpus.

It runs the pipeline's own stage functions (genrevae.pipeline) in a scratch folder. For each seed it runs
prepare, extract_audio, embed_lyrics and fuse once, then train, cluster and evaluate once
per model and input. With a random split (``data.split=random``, the default) the seed
draws the split as well as the initialisation; with a listed one (``-o
data.split=gtzan_fault_filtered``) the split is the same in every seed and only the
initialisation varies. A single test split of GTZAN is 150 to 290 tracks, one track moving
the probe accuracy by 0.3 to 0.7 points, so the table reports the mean and standard
deviation over the seeds and, per model, its paired margin over the better baseline of the
same input in each seed: in how many seeds it beat them all, the mean margin and its 95 %
t-interval (each JSON line also lists the per-seed values, in seed order). Baselines are
taken from the first model's run of each input and seed: they do not depend on the model.
``--compare A,B`` adds the paired difference of two rows (e.g. hybrid against audio input).
On an audio corpus each seed also reports what the lyrics alone tell (a linear probe on the
lyrics embedding for genre and for language) and every row the NMI of its clusters against
language, beside two references for that NMI on the same test tracks: the NMI between
language and genre themselves (where they go together, a clustering cannot follow genre
without following language) and chance (the first row's clusters shuffled). It ends with
one JSON line per row (and per comparison).

Settings are to be chosen without the test tracks: ``--on-validation`` scores the val
tracks instead. Each seed's val tracks are cut in two halves (each artist whole in one,
each genre shared out evenly); the seed runs twice, each half stopping the training once
while the other is scored, on the same train tracks, and its score is the mean of the two.
The test tracks are in neither run. Choose on that table, then run the chosen setting once
without the flag.

    python benchmarks/quality.py --table ../shared/data/gtzan_features_30_sec.csv
    python benchmarks/quality.py --table ../shared/data/gtzan_features_30_sec.csv \
        -o data.split=gtzan_fault_filtered -o experiment=feature_table --seeds 0,1,2,3,4,5,6,7,8,9
    python benchmarks/quality.py --root ../shared/data/previews_en_de \
        --lyrics ../shared/data/previews_en_de.csv --models vae,cvae --inputs audio,hybrid \
        --compare vae/hybrid,vae/audio --compare cvae/hybrid,vae/hybrid
    python benchmarks/quality.py --table ../shared/data/gtzan_features_30_sec.csv \
        -o data.split=gtzan_fault_filtered -o experiment=feature_table --on-validation \
        -o 'model.hidden_dims=[128]'
    python benchmarks/quality.py --embedded --models conv_vae --seeds 42,43,44
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy import stats
from sklearn.metrics import normalized_mutual_info_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from genrevae.config.compose import compose_params  # noqa: E402
from genrevae.errors import GenreVAEError  # noqa: E402
from genrevae.models.names import MODEL_NAMES  # noqa: E402
from genrevae.pipeline.runner import run_inline  # noqa: E402

log = logging.getLogger("quality")

FEATURE_STAGES = ("prepare", "extract_audio", "embed_lyrics", "fuse")
MODEL_STAGES = ("train", "cluster", "evaluate")
# conv_vae needs log-mel spectrograms, which a feature table does not have.
TABLE_MODELS = tuple(name for name in MODEL_NAMES if name != "conv_vae")
AUDIO_MODELS = MODEL_NAMES
FEATURE_INPUTS = ("audio", "lyrics", "hybrid")
BASELINES = ("raw", "pca", "pca_white")
# AMI beside NMI: NMI of chance grows as the test split shrinks, AMI's does not, so AMI's
# means can be set beside those of another corpus (docs/evaluation.md).
METRICS = ("nmi", "ami", "ari", "probe_track_acc", "nmi_lang")
LABELS = ("NMI", "AMI", "ARI", "probe acc", "NMI lang")  # METRICS as the table heads them
# Metrics a model is to beat its baselines on (a clustering that follows language less is
# not "worse", so nmi_lang has no margin).
MARGIN_METRICS = ("nmi", "ami", "ari", "probe_track_acc")


def run_stage(stage: str, workdir: Path) -> None:
    """The stage's function in this process (genrevae.pipeline), in ``workdir``."""
    try:
        with contextlib.chdir(workdir):
            run_inline(stage, "params.yaml")
    except GenreVAEError as exc:
        sys.exit(f"stage {stage} failed: {exc}")


def scores(metrics: dict, rep: str) -> dict[str, float]:
    """Track level on the test split: NMI/AMI/ARI against genre of K-Means on each track's
    mean row (the headline's clustering), the probe's track accuracy, and the NMI of the same
    clusters against language (None with one language)."""
    km = metrics[rep]["track"]["mean"]["test"]
    several = metrics["data"].get("n_languages", 1) > 1
    return {"nmi": km["nmi_genre"], "ami": km["ami_genre"], "ari": km["ari_genre"],
            "probe_track_acc": metrics[rep]["probe"]["track_accuracy"],
            "nmi_lang": km.get("nmi_language") if several else None}


def t_interval(values: list[float], level: float = 0.95) -> list[float] | None:
    """[low, high]: the Student-t confidence interval of the mean of ``values``; None for a
    single value, which has no spread to go on."""
    if len(values) < 2:
        return None
    mean = statistics.fmean(values)
    half = (stats.t.ppf(0.5 + level / 2, df=len(values) - 1)
            * statistics.stdev(values) / math.sqrt(len(values)))
    return [round(mean - half, 4), round(mean + half, 4)]


def summarise(runs: dict[str, list[dict[str, float]]], rows_of: list[str],
              baselines_of: dict[str, list[str]]) -> list[dict]:
    """One row per run name (``rows_of``, then every baseline): mean and (with 2+ seeds)
    sample standard deviation of each metric. For a model, per metric and seed, its margin
    over the best of its baselines (``baselines_of[name]``: those of the same input) in that
    seed: in how many seeds it is positive (``_wins``), its mean (``_margin``) and the 95 %
    t-interval of that mean (``_margin_ci``). The margin is paired (same split, same seed),
    so the spread between splits, which moves every representation together, does not hide
    it. A metric that is None in a seed (language NMI with one language) is left out."""
    names = list(rows_of)
    for bases in baselines_of.values():
        names += [b for b in bases if b not in names]
    rows = []
    for name in names:
        per_seed = runs[name]
        row: dict = {"model": name}
        for key in METRICS:
            values = [r[key] for r in per_seed if r.get(key) is not None]
            row[key] = round(statistics.fmean(values), 4) if values else None
            row[f"{key}_sd"] = round(statistics.stdev(values), 4) if len(values) > 1 else 0.0
        if name in baselines_of:
            for key in MARGIN_METRICS:
                margins = [r[key] - max(runs[b][i][key] for b in baselines_of[name])
                           for i, r in enumerate(per_seed)]
                row[f"{key}_wins"] = sum(m > 0 for m in margins)
                row[f"{key}_margin"] = round(statistics.fmean(margins), 4)
                row[f"{key}_margin_ci"] = t_interval(margins)
        row["seeds"] = len(per_seed)
        row["per_seed"] = {key: [None if r.get(key) is None else round(r[key], 4)
                                 for r in per_seed] for key in METRICS}
        rows.append(row)
    return rows


def paired(runs: dict[str, list[dict[str, float]]], a: str, b: str) -> dict:
    """Row ``a`` minus row ``b``, seed by seed, per metric: mean and 95 % t-interval."""
    out: dict = {"compare": f"{a} - {b}", "seeds": len(runs[a])}
    for key in METRICS:
        diffs = [x[key] - y[key] for x, y in zip(runs[a], runs[b], strict=True)
                 if x.get(key) is not None and y.get(key) is not None]
        out[key] = round(statistics.fmean(diffs), 4) if diffs else None
        out[f"{key}_ci"] = t_interval(diffs)
        out[f"{key}_per_seed"] = [round(d, 4) for d in diffs]
    return out


def _cell(value: float | None, sd: float) -> str:
    return f"{'-':>7}        " if value is None else f"{value:>7.3f} ± {sd:.3f}"


def print_table(rows: list[dict], comparisons: list[dict], header: str) -> None:
    n = rows[0]["seeds"]
    width = max(8, *(len(r["model"]) for r in rows))
    print(f"\n{header}")
    margin_labels = [LABELS[METRICS.index(k)] for k in MARGIN_METRICS]
    print(f"{'model':<{width}} " + " ".join(f"{label:>15}" for label in LABELS)
          + f"   beat its baselines (of {n} seeds): " + " / ".join(margin_labels))
    for r in rows:
        cells = " ".join(_cell(r[k], r[f"{k}_sd"]) for k in METRICS)
        wins = " / ".join(str(r[f"{k}_wins"]) for k in MARGIN_METRICS) if "nmi_wins" in r else ""
        print(f"{r['model']:<{width}} {cells}   {wins}")
    print("\nmargin over the better baseline of the same input, each seed: mean [95 % t-interval]")
    print(f"{'model':<{width}} " + " ".join(f"{label:>26}" for label in margin_labels))
    for r in rows:
        if "nmi_wins" not in r:
            continue
        cells = []
        for k in MARGIN_METRICS:
            ci = r[f"{k}_margin_ci"]
            cells.append(f"{r[f'{k}_margin']:>+8.3f} " + (f"[{ci[0]:+.3f}, {ci[1]:+.3f}]"
                                                         if ci else f"{'[one seed]':>16}"))
        print(f"{r['model']:<{width}} {' '.join(cells)}")
    if comparisons:
        print("\npaired differences, seed by seed: mean [95 % t-interval]")
        print(f"{'':<{2 * width}} " + " ".join(f"{label:>26}" for label in LABELS))
        for c in comparisons:
            cells = []
            for k in METRICS:
                ci = c[f"{k}_ci"]
                cells.append(f"{'-':>26}" if c[k] is None else f"{c[k]:>+8.3f} " + (
                    f"[{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else f"{'[one seed]':>16}"))
            print(f"{c['compare']:<{2 * width}} {' '.join(cells)}")


LYRICS_ALONE = {"lyrics_genre_acc": ("genre", "accuracy"),
                "lyrics_language_acc": ("language", "accuracy"),
                "lyrics_genre_within_language_acc": ("genre_within_language", "accuracy"),
                "language_majority_genre_acc": ("genre_within_language", "majority_accuracy")}


def lyrics_alone(metrics: dict) -> dict[str, float | None]:
    """What a linear probe on the lyrics embedding alone gets for genre and language, and
    for genre inside each language beside each language's most common genre, on test
    tracks with lyrics (None where the run could not probe it)."""
    probe = metrics.get("leakage", {}).get("lyrics_probe", {})
    return {key: (probe.get(target) or {}).get(value)
            for key, (target, value) in LYRICS_ALONE.items()}


def language_reference(workdir: Path, *, seed: int, draws: int = 200) -> dict[str, float | None]:
    """What the language NMI of a row is to be read against, on the run's test tracks:
    ``of_genre``, the NMI between language and genre themselves (what a clustering that
    reproduced genre exactly would score against language: where the two go together, a
    clustering cannot follow genre without following language), and ``chance``, the mean
    NMI against language of the latent's track clusters shuffled among the test tracks
    (same cluster sizes, no link to language). None where the test tracks hold one
    language."""
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    paths = params["paths"]
    manifest = pd.read_csv(workdir / paths["manifest"], dtype=str).set_index("track_id")
    clusters = pd.read_csv(workdir / paths["track_assignments"], dtype={"track_id": str})
    test = clusters[clusters["split"] == "test"]
    language = manifest.loc[test["track_id"], "language"].to_numpy()
    genre = manifest.loc[test["track_id"], params["evaluate"]["target"]].to_numpy()
    if len(set(language)) < 2:
        return {"of_genre": None, "chance": None}
    labels = test["latent.kmeans"].to_numpy()
    rng = np.random.default_rng(seed)
    chance = statistics.fmean(normalized_mutual_info_score(language, rng.permutation(labels))
                              for _ in range(draws))
    return {"of_genre": normalized_mutual_info_score(language, genre), "chance": chance}


def validation_halves(workdir: Path, seed: int) -> list[Path]:
    """Two split folders, written under ``workdir/validation``, from the prepared manifest
    in ``workdir``: both keep its train tracks; its val tracks are cut in two halves, A and
    B, with every group (artist where known) whole in one half and each genre shared out
    evenly. Folder A stops the training on half A and scores half B, folder B the reverse.
    The test tracks are in neither folder's lists, so a run on them leaves them out."""
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    manifest = pd.read_csv(workdir / params["paths"]["manifest"], dtype=str)
    target = params["evaluate"]["target"]
    val = manifest[manifest["split"] == "val"]
    val = val.assign(group=val["group"].fillna(val["track_id"]))  # no group: the track alone
    if val["group"].nunique() < 2:
        sys.exit(f"error: --on-validation: the val tracks of seed {seed} form "
                 f"{val['group'].nunique()} group(s); two halves need at least two")
    # Each group under its most common genre; groups dealt in a seeded order, the larger
    # first, each to the half holding fewer tracks of that genre (then fewer in all).
    by_group = val.groupby("group")
    genre_of = by_group[target].agg(lambda g: g.value_counts().index[0])
    members = by_group["track_id"].agg(list)
    order = np.random.default_rng(seed).permutation(sorted(members.index))
    order = sorted(order, key=lambda g: -len(members[g]))  # stable: seeded order breaks ties
    halves: tuple[list[str], list[str]] = ([], [])
    per_genre = {genre: [0, 0] for genre in genre_of.unique()}
    for group in order:
        counts = per_genre[genre_of[group]]
        side = min((0, 1), key=lambda h: (counts[h], len(halves[h])))
        halves[side].extend(members[group])
        counts[side] += len(members[group])
    train = manifest.loc[manifest["split"] == "train", "track_id"].tolist()
    folders = []
    for name, (stop, scored) in (("A", halves), ("B", halves[::-1])):
        folder = workdir / "validation" / f"seed{seed}" / name
        folder.mkdir(parents=True, exist_ok=True)
        for list_name, ids in (("train", train), ("val", stop), ("test", scored)):
            (folder / f"{list_name}.txt").write_text("".join(f"{t}\n" for t in ids),
                                                     encoding="utf-8")
        folders.append(folder)
    return folders


def composed_split(workdir: Path) -> str:
    """``data.split`` of the params last composed in ``workdir``."""
    return yaml.safe_load((workdir / "params.yaml").read_text())["data"]["split"]


def mean_scores(units: list[dict[str, float | None]]) -> dict[str, float | None]:
    """Each metric's mean over ``units`` (None where a unit has none)."""
    return {k: None if any(u[k] is None for u in units) else statistics.fmean(u[k] for u in units)
            for k in units[0]}


def plan(models: list[str], inputs: list[str]) -> list[tuple[str, str]]:
    """(model, input) per run; conv_vae reads its log-mel whatever ``inputs`` say."""
    runs = []
    for model in models:
        for inp in (["mel"] if model == "conv_vae" else inputs):
            if (model, inp) not in runs:
                runs.append((model, inp))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--table", type=Path,
                        help="a Kaggle-format feature table (features_30_sec.csv or _3_sec)")
    source.add_argument("--root", type=Path,
                        help="an audio corpus: a <root>/<genre>/<files> tree (data=folder)")
    source.add_argument("--embedded", action="store_true",
                        help="the embedded default corpus (data=synthetic), generated from "
                             "each seed, with its own lyrics and languages")
    parser.add_argument("--lyrics", type=Path, default=None,
                        help="with --root: a lyrics table (its artist column groups the split)")
    parser.add_argument("--metadata", type=Path, default=None,
                        help="a metadata table (artist, language, ...) joined to the tracks")
    parser.add_argument("--label-column", default="label",
                        help="with --table: the genre column (default: label)")
    parser.add_argument("--models", default=None,
                        help=f"comma-separated model variants (default: {','.join(TABLE_MODELS)} "
                             "with --table, vae,cvae with --root or --embedded)")
    parser.add_argument("--inputs", default=None,
                        help="with --root or --embedded: comma-separated model inputs of the feature models, "
                             "from audio, lyrics, hybrid (default: audio,hybrid; conv_vae "
                             "always reads the log-mel)")
    parser.add_argument("--compare", action="append", default=[], metavar="A,B",
                        help="also report row A minus row B seed by seed, e.g. "
                             "vae/hybrid,vae/audio (repeatable)")
    parser.add_argument("--seeds", default="42,43,44,45,46",
                        help="comma-separated seeds: the initialisation, and the split unless "
                             "data.split is a list (default: 42,43,44,45,46)")
    parser.add_argument("--on-validation", action="store_true",
                        help="score on the val tracks instead of the test tracks, to choose "
                             "settings without them: each seed runs on both halves of its val "
                             "list (grouped by artist where known), one half stopping the "
                             "training and the other scored, and reports their mean; the test "
                             "tracks are left out")
    parser.add_argument("--epochs", type=int, default=None, help="override train.epochs")
    parser.add_argument("--latent-dim", type=int, default=None, help="override latent_dim")
    parser.add_argument("-o", "--override", action="append", default=[],
                        help="extra Hydra override for every run, e.g. -o model.beta=0.5")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="scratch folder (default: a temporary one)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    # The stages run in this process: their own progress lines would drown the table's.
    for name in ("genrevae", "numba", "matplotlib", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)

    corpus = None if args.embedded else (args.table or args.root).resolve()
    if args.table is not None and not corpus.is_file():
        sys.exit(f"error: --table {corpus}: not found")
    if args.root is not None and not corpus.is_dir():
        sys.exit(f"error: --root {corpus}: not a folder")
    if args.on_validation and args.embedded:
        sys.exit("error: --on-validation: the embedded corpus takes no lists of tracks; "
                 "give --table or --root")
    for flag, path in (("--lyrics", args.lyrics), ("--metadata", args.metadata)):
        if path is not None and not path.is_file():
            sys.exit(f"error: {flag} {path}: not found")
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        sys.exit(f"error: --seeds {args.seeds!r}: not a comma-separated list of integers")
    known = TABLE_MODELS if args.table else AUDIO_MODELS
    models = [m.strip() for m in (args.models or ("vae,cvae" if not args.table else
                                                  ",".join(TABLE_MODELS))).split(",")
              if m.strip()]
    for name in models:
        if name not in known:
            sys.exit(f"error: --models: {name!r} is not one of {', '.join(known)}"
                     + (" (conv_vae needs audio, which a feature table does not have)"
                        if args.table else ""))
    inputs = ["audio"] if args.table else [
        i.strip() for i in (args.inputs or "audio,hybrid").split(",") if i.strip()]
    if args.table and args.inputs:
        sys.exit("error: --inputs: a feature table gives one input (its features); "
                 "give --inputs with --root or --embedded")
    for inp in inputs:
        if inp not in FEATURE_INPUTS:
            sys.exit(f"error: --inputs: {inp!r} is not one of {', '.join(FEATURE_INPUTS)}")
    if not seeds or not models or not inputs:
        sys.exit("error: nothing to run: give at least one seed, model and input")
    todo = plan(models, inputs)
    several_inputs = len({inp for _, inp in todo}) > 1
    row_name = {run: f"{run[0]}/{run[1]}" if several_inputs else run[0] for run in todo}
    base_name = {(b, inp): f"{b}/{inp}" if several_inputs else b
                 for inp in {i for _, i in todo} for b in BASELINES}
    baselines_of = {row_name[(m, inp)]: [base_name[(b, inp)] for b in BASELINES]
                    for m, inp in todo}
    comparisons = []
    for pair in args.compare:
        names = [n.strip() for n in pair.split(",")]
        if len(names) != 2 or any(n not in {*row_name.values(), *base_name.values()}
                                  for n in names):
            sys.exit(f"error: --compare {pair!r}: give two of the rows "
                     f"({', '.join([*row_name.values(), *base_name.values()])}) as A,B")
        comparisons.append(names)

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="genrevae-quality-"))
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "data" / "raw").mkdir(parents=True, exist_ok=True)
    os.environ.update(MLFLOW_TRACKING_URI=f"sqlite:///{workdir / 'mlflow.db'}",
                      MLFLOW_EXPERIMENT_NAME="genrevae-quality")
    if args.table:
        common = ["data=features_table", f"data.root={corpus}",
                  f"data.label_column={args.label_column}"]
    elif args.embedded:
        common = ["data=synthetic"]
    else:
        common = ["data=folder", f"data.root={corpus}", "data.language=unknown"]
    if args.lyrics:
        common.append(f"data.lyrics={args.lyrics.resolve()}")
    if args.metadata:
        common.append(f"data.metadata={args.metadata.resolve()}")
    common += args.override
    if args.epochs is not None:
        common.append(f"train.epochs={args.epochs}")
    if args.latent_dim is not None:
        common.append(f"latent_dim={args.latent_dim}")

    runs: dict[str, list[dict[str, float]]] = {
        name: [] for name in [*row_name.values(), *base_name.values()]}
    lyrics_probe: list[dict[str, float | None]] = []
    language_refs: list[dict[str, float | None]] = []
    started = time.perf_counter()
    base_split = None
    for seed in seeds:
        folders: list[Path | None] = [None]
        if args.on_validation:
            model, inp = todo[0]
            compose_params([*common, f"seed={seed}", f"model={model}", f"model.input={inp}"],
                           conf_dir=ROOT / "conf", output=workdir / "params.yaml")
            base_split = composed_split(workdir)
            run_stage("prepare", workdir)
            folders = validation_halves(workdir, seed)
        per_unit: dict[str, list[dict[str, float | None]]] = {}
        unit_leak: list[dict[str, float | None]] = []
        unit_refs: list[dict[str, float | None]] = []
        for folder in folders:
            overrides = common if folder is None else [
                *(o for o in common if not o.startswith("data.split=")), f"data.split={folder}"]
            seen_inputs: set[str] = set()
            for i, (model, inp) in enumerate(todo):
                compose_params([*overrides, f"seed={seed}", f"model={model}", f"model.input={inp}"],
                               conf_dir=ROOT / "conf", output=workdir / "params.yaml")
                if base_split is None:
                    base_split = composed_split(workdir)
                for stage in (*FEATURE_STAGES, *MODEL_STAGES) if i == 0 else MODEL_STAGES:
                    run_stage(stage, workdir)
                metrics = json.loads((workdir / "metrics" / "eval.json").read_text())
                name = row_name[(model, inp)]
                per_unit.setdefault(name, []).append(scores(metrics, "latent"))
                if inp not in seen_inputs:
                    seen_inputs.add(inp)
                    for base in BASELINES:
                        per_unit.setdefault(base_name[(base, inp)], []).append(
                            scores(metrics, base))
                if i == 0:
                    unit_leak.append(lyrics_alone(metrics))
                    unit_refs.append(language_reference(workdir, seed=seed))
                best = max(per_unit[b][-1]["probe_track_acc"] for b in baselines_of[name])
                log.info("seed %d %-14s%s NMI %.3f probe %.3f (best baseline %.3f)  [%.0f s]",
                         seed, name, "" if folder is None else f" val half {folder.name}",
                         per_unit[name][-1]["nmi"], per_unit[name][-1]["probe_track_acc"], best,
                         time.perf_counter() - started)
        # A seed is one paired unit: on validation, the mean of its two scored halves.
        for name, units in per_unit.items():
            runs[name].append(mean_scores(units))
        lyrics_probe.append(mean_scores(unit_leak))
        language_refs.append(mean_scores(unit_refs))
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    data = metrics["data"]

    rows = summarise(runs, list(row_name.values()), baselines_of)
    compared = [paired(runs, a, b) for a, b in comparisons]
    split = base_split
    split_note = ("split drawn by each seed" if split == "random"
                  else f"split {split} (fixed; seeds vary the initialisation)")
    if args.on_validation:
        split_note += ("; scored on the val tracks, not the test tracks: each seed's mean over "
                       "the two halves of its val list, each half scored once while the other "
                       "stopped the training")
    source_name = "embedded corpus" if corpus is None else corpus.name
    header = (f"{source_name}: {data['n_tracks']} tracks, {data['n_genres']} genres, "
              f"~{data['n_test_segments']} {'scored' if args.on_validation else 'test'} segments; "
              f"{split_note}; seeds "
              f"{','.join(map(str, seeds))}, latent_dim {params['latent_dim']}, "
              f"audio transform {params['fuse']['audio_transform']}, "
              f"{params['train']['epochs']} epochs max"
              + (f"; overrides {' '.join(args.override)}" if args.override else "")
              + "; mean ± sd over seeds")
    print_table(rows, compared, header)
    leak = {k: [p[k] for p in lyrics_probe] for k in LYRICS_ALONE}
    if any(v is not None for values in leak.values() for v in values):
        means = {k: statistics.fmean(v) for k, values in leak.items()
                 if (v := [x for x in values if x is not None])}
        words = {"lyrics_genre_acc": "genre", "lyrics_language_acc": "language",
                 "lyrics_genre_within_language_acc": "genre within each language"}
        line = ", ".join(f"{w} {means[k]:.3f}" for k, w in words.items() if k in means)
        if (majority := means.get("language_majority_genre_acc")) is not None:
            line += f" (each language's most common genre {majority:.3f})"
        print("\nlyrics alone (linear probe on the lyrics embedding, test tracks with lyrics): "
              + line)
    reference = {k: [None if r[k] is None else round(r[k], 4) for r in language_refs]
                 for k in ("of_genre", "chance")}
    has_reference = all(v is not None for v in reference["of_genre"])
    if has_reference:
        print("language NMI for reference (test tracks): genre itself "
              f"{statistics.fmean(reference['of_genre']):.3f} (a clustering that is exactly "
              "genre scores this against language), the latent's clusters shuffled "
              f"{statistics.fmean(reference['chance']):.3f} (chance)")
    tag = {"split": split, "scored_on": "val" if args.on_validation else "test"}
    for r in rows:
        print(json.dumps({**tag, **r}))
    for c in compared:
        print(json.dumps({**tag, **c}))
    if any(v is not None for values in leak.values() for v in values):
        print(json.dumps({**tag, "lyrics_alone": leak}))
    if has_reference:
        print(json.dumps({**tag, "language_nmi_reference": reference}))


if __name__ == "__main__":
    main()
