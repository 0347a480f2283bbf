"""The ``genrevae`` command: helpers around the pipeline."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from genrevae import __version__
from genrevae.config import load_config
from genrevae.config.compose import compose_params
from genrevae.errors import GenreVAEError


def _check_output(path: Path, option: str) -> None:
    """Refuse, before any work, an output path that cannot be written: a folder, or a file
    in a folder that does not exist (a typo is not turned into a new tree of folders)."""
    if path.is_dir():
        raise GenreVAEError(f"{option} {path}: is a folder; give a file name")
    parent = path.parent
    if not parent.is_dir():
        what = "is not a folder" if parent.exists() else "does not exist"
        raise GenreVAEError(f"{option} {path}: the folder {parent} {what}")


def _cmd_params(args: argparse.Namespace) -> None:
    _check_output(Path(args.output), "--output")
    path = compose_params(args.overrides, conf_dir=args.conf, output=args.output)
    print(f"wrote {path}")


# The provenance in the CSV's last columns (the genres are the p_ columns' names).
MODEL_COLUMNS = ("run", "version", "data", "trained")


def _default_model_dir() -> Path:
    """The folder of ``paths.model`` in ./params.yaml (the last `dvc repro`), else models/."""
    try:
        return Path(load_config("params.yaml").paths.model).parent
    except GenreVAEError:
        return Path("models")


def _cmd_predict(args: argparse.Namespace) -> None:
    import csv
    import logging

    from genrevae.io import to_json
    from genrevae.serving.bundle import synthetic_warning
    from genrevae.spreadsheet import spreadsheet_text
    from genrevae.tracking.registry import open_model

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    predictor, info = open_model(args.model or _default_model_dir(), condition=args.condition)
    if (warning := synthetic_warning(info)) is not None:
        print(f"warning: {warning}", file=sys.stderr)
    results, failed = [], 0
    for song in args.songs:
        try:
            results.append(predictor.predict(song))
        except GenreVAEError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
    if args.format == "json":
        sys.stdout.write(to_json([{**r.as_dict(), "model": info} for r in results],
                                 ascii_only=False) + "\n")
    else:
        classes = predictor.probe["classes"]
        dim = predictor.model.latent_dim
        writer = csv.writer(sys.stdout)
        writer.writerow(["track", "top_genre", "nearest_cluster", "n_segments",
                         *[f"p_{c}" for c in classes], *[f"z{i}" for i in range(dim)],
                         *[f"model_{k}" for k in MODEL_COLUMNS]])
        # Song paths and names come from users: a spreadsheet must not run them as formulas.
        for r in results:
            writer.writerow([spreadsheet_text(r.path), spreadsheet_text(r.top),
                             "" if r.nearest_cluster is None else r.nearest_cluster,
                             r.n_segments,
                             *[r.probabilities[c] for c in classes], *r.latent,
                             *["" if info[k] is None else spreadsheet_text(info[k])
                               for k in MODEL_COLUMNS]])
    if failed:
        sys.exit(1)


def _int_at_least(low: int, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
    return value


def _positive_int(text: str) -> int:
    return _int_at_least(1, text)


def _non_negative_int(text: str) -> int:
    return _int_at_least(0, text)


def _port(text: str) -> int:
    value = _int_at_least(1, text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"must be at most 65535, got {value}")
    return value


def _cmd_compare(args: argparse.Namespace) -> None:
    from genrevae.tracking import compare, compare_seeds

    if args.png:
        _check_output(args.png, "--png")
    runs = compare.find_runs(args.runs, last=args.last, experiment=args.experiment)
    if not runs:
        raise GenreVAEError(f"no finished runs in MLflow experiment {args.experiment!r}; run the "
                            "pipeline first (dvc repro)")
    if args.runs_only:
        frame = compare.headline_frame(runs)
        print(compare.format_table(frame))
        if args.png:
            compare.compare_figure(frame, args.png)
            print(f"wrote {args.png}")
        return
    recs = compare.records(runs)
    configs = compare_seeds.group(recs, allow_mixed_data=args.allow_mixed_data)
    score = args.score or compare.verdict_score(recs)
    print(compare.format_runs(recs, configs))
    print()
    print(compare_seeds.format_configurations(configs, compare_seeds.pairs(configs), score))
    for line in compare.notes(recs, configs):
        print(line)
    if args.png:
        compare.interval_figure(configs, args.png)
        print(f"wrote {args.png}")


def _compare_scores() -> tuple[str, ...]:
    from genrevae.tracking.compare_seeds import SCORES

    return SCORES


def _default_clips_per_song() -> int:
    try:
        return load_config("params.yaml").data.clips_per_song
    except GenreVAEError:
        return 10


def _cmd_check_clips(args: argparse.Namespace) -> None:
    import logging

    from genrevae.config import SourceConfig
    from genrevae.data.clips import check_clips, format_report
    from genrevae.data.sources import genre_root
    from genrevae.io import to_json

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    root = genre_root(SourceConfig("banglabeats", str(args.root)))
    per_song = args.clips_per_song or _default_clips_per_song()
    report = check_clips(root, clips_per_song=per_song, genres=args.genre,
                         max_pairs=args.max_pairs, seed=args.seed)
    if args.json:
        sys.stdout.write(to_json(report.as_dict(), ascii_only=False) + "\n")
    else:
        print(f"{root}\n{format_report(report)}")
    if args.strict and report.verdict != "holds":
        sys.exit(1)


def _cmd_promote(args: argparse.Namespace) -> None:
    from genrevae.tracking.registry import MODEL_NAME, promote

    run, version = promote(args.run, args.alias)
    print(f"{MODEL_NAME}@{args.alias} -> version {version.version} (run {run.info.run_name}, "
          f"{run.info.run_id})")


def _cmd_ui(args: argparse.Namespace) -> None:
    from genrevae.tracking.servers import ui

    ui(args.host, args.port)


def _cmd_serve(args: argparse.Namespace) -> None:
    from genrevae.tracking.servers import serve

    serve(args.model, args.host, args.port, args.max_mb)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value

def _cmd_run_of(args: argparse.Namespace) -> None:
    from genrevae import tracking
    from genrevae.config import load_params

    params = load_params(args.params)
    uri = tracking.tracking_uri()
    try:
        runs = tracking.runs_with_params(params, uri)
    except GenreVAEError:
        raise
    except Exception as exc:
        raise tracking.tracking_error(uri, exc) from exc
    if not runs:
        raise GenreVAEError(f"no finished MLflow run in {uri} has the params of {args.params}")
    for run in runs:
        print(f"{run.info.run_id}  {run.info.run_name}  commit "
              f"{run.data.tags.get('git.commit', '?')[:7]}")


def _cmd_transfer(args: argparse.Namespace) -> None:
    from genrevae.pipeline.remote import transfer

    transfer(args.command, args.remote, args.targets)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genrevae",
        description="VAE latent spaces of music, clustered into genres. The pipeline itself "
        "runs with `dvc repro` / `dvc exp run`; this command holds the helpers.",
    )
    parser.add_argument("--version", action="version", version=f"genrevae {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser(
        "params",
        help="compose conf/ into params.yaml (as `dvc exp run` does)",
        description="Compose the Hydra config groups in conf/ into params.yaml, with optional "
        "overrides such as latent_dim=64 or model.beta=4, and validate it.",
    )
    p.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. latent_dim=64 data=synthetic")
    p.add_argument("--conf", default="conf", help="config directory (default: conf)")
    p.add_argument("--output", default="params.yaml", help="output file (default: params.yaml)")
    p.set_defaults(func=_cmd_params)

    q = sub.add_parser(
        "predict",
        help="genre probabilities, nearest cluster and latent coordinates of new songs",
        description="Decode each song (wav, mp3, flac, ogg; any length and sample rate), run "
        "the pipeline's feature steps and model, and print per-track genre probabilities from "
        "the linear probe, the top genre, the nearest K-Means cluster and the mean latent "
        "coordinates. Uses the artifacts of the last `dvc repro` by default.",
    )
    q.add_argument("songs", nargs="+", metavar="SONG", help="audio files")
    q.add_argument("--model", default=None,
                   help="folder with model.pt and probe.json (default: that of paths.model), "
                   "or an MLflow model: models:/genrevae@champion, models:/genrevae/3, "
                   "runs:/RUN_ID/model")
    q.add_argument("--format", choices=("json", "csv"), default="json",
                   help="output format (default: json)")
    q.add_argument("--condition", default=None,
                   help="for a cvae: the condition value (default: the most common in training)")
    q.set_defaults(func=_cmd_predict)

    c = sub.add_parser(
        "compare",
        help="runs side by side, grouped by seed: means, 95%% intervals and a verdict",
        description="Read runs from the MLflow store the pipeline logs to (MLFLOW_TRACKING_URI, "
        "else ./mlflow.db). Runs that differ only in seed form a configuration; per "
        "configuration: the seeds, the data, the test size, and the mean and 95 % t-interval "
        "over seeds of NMI, AMI, ARI and probe accuracy and of their margins over the better "
        "baseline (paired by seed); between configurations, the paired difference on shared "
        "seeds and a verdict: one beats another only when that interval lies above zero. "
        "Runs whose test set is flagged too small are marked ! and left out of the means and "
        "the verdict. "
        "Without RUN: the newest finished runs. See docs/compare.md.",
    )
    c.add_argument("runs", nargs="*", metavar="RUN",
                   help="run names (a DVC experiment's name for `dvc exp run`) or run ids")
    c.add_argument("-n", "--last", type=_positive_int, default=12,
                   help="without RUN, how many of the newest runs (default: 12, e.g. two "
                   "configurations of six seeds)")
    c.add_argument("--runs", dest="runs_only", action="store_true",
                   help="print only the full per-run table (every headline number of every "
                   "run; wide), and with --png draw each run's scores beside its baseline's")
    c.add_argument("--score", choices=_compare_scores(), default=None,
                   help="the score of the verdict (default: ami where every run has it, "
                   "else nmi)")
    c.add_argument("--allow-mixed-data", action="store_true",
                   help="show runs on different data sets (source, root, manifest) as "
                   "separate configurations instead of refusing; pairs on different data "
                   "get no verdict")
    c.add_argument("--png", type=Path, default=None,
                   help="also draw the configurations' intervals to this PNG")
    c.add_argument("--experiment", default="genrevae",
                   help="MLflow experiment (default: genrevae)")
    c.set_defaults(func=_cmd_compare)

    k = sub.add_parser(
        "check-clips",
        help="measure whether numbered clips (BanglaBeats) follow songs of N clips",
        description="For plain-numbered clips (<genre>/<N>.wav, as in the Kaggle BanglaBeats "
        "copy), grouped into songs of --clips-per-song consecutive numbers, compare the cuts "
        "between clips N and N+1 of one presumed song with the cuts between the last clip of "
        "a song and the first of the next, by the jump of the mean log-mel spectrum just "
        "before and just after each cut. Where the numbering follows songs, the music goes on "
        "through a cut inside a song, so cuts between songs are much bigger jumps. Prints "
        "both distributions, their AUC and a one-sided Mann-Whitney p, the best-fitting song "
        "size among 2..20 and a verdict: holds, does not hold, or inconclusive.",
    )
    k.add_argument("root", type=Path, metavar="ROOT",
                   help="the dataset folder (data/raw/banglabeats, its wavs3sec/, or any folder "
                   "of genre folders)")
    k.add_argument("--clips-per-song", type=_positive_int, default=None,
                   help="the grouping to check (default: data.clips_per_song of ./params.yaml, "
                   "else 10)")
    k.add_argument("--genre", action="append", default=None, metavar="GENRE",
                   help="check only this genre folder (repeatable; default: all)")
    k.add_argument("--max-pairs", type=_positive_int, default=2000,
                   help="at most this many cuts, drawn at random, to bound the time "
                   "(default: 2000)")
    k.add_argument("--seed", type=_non_negative_int, default=0,
                   help="seed of that draw (default: 0)")
    k.add_argument("--json", action="store_true", help="print the report as JSON")
    k.add_argument("--strict", action="store_true",
                   help="exit with status 1 unless the grouping holds")
    k.set_defaults(func=_cmd_check_clips)

    u = sub.add_parser(
        "ui",
        help="the MLflow UI on the project's store, and the address of its headline view",
        description="Print the address of the runs table in the headline view (the headline "
        "metrics as the first columns, newest run first), then serve `mlflow ui` on the "
        "project's tracking store (MLFLOW_TRACKING_URI, else ./mlflow.db), its root page "
        "opening that runs table in the Model training view.",
    )
    u.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    u.add_argument("--port", type=_port, default=5000, help="port, 1..65535 (default: 5000)")
    u.set_defaults(func=_cmd_ui)

    r = sub.add_parser(
        "promote",
        help="set the registered model alias champion on a run's model version",
        description="Point the alias (default: champion) of the registered model genrevae at "
        "the version that RUN logged, so models:/genrevae@champion (predict --model, serve) "
        "names it.",
    )
    r.add_argument("run", metavar="RUN",
                   help="a run name (a DVC experiment's name for `dvc exp run`) or run id")
    r.add_argument("--alias", default="champion", help="the alias to set (default: champion)")
    r.set_defaults(func=_cmd_promote)

    s = sub.add_parser(
        "serve",
        help="serve a registered model over HTTP (mlflow models serve, on 127.0.0.1)",
        description="Check the model's files against the digests in the tracking store, then "
        "run `mlflow models serve --env-manager local` on it. POST /invocations with JSON "
        '{"dataframe_records": [{"audio": "<base64 of the song file>", "name": "song.mp3"}]} '
        "answers per song what `genrevae predict` prints. See docs/serving.md.",
    )
    s.add_argument("--model", default="models:/genrevae@champion",
                   help="models:/NAME@ALIAS, models:/NAME/VERSION or runs:/RUN_ID/model "
                   "(default: models:/genrevae@champion)")
    s.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: 127.0.0.1, this machine only)")
    s.add_argument("--port", type=_port, default=5001, help="port, 1..65535 (default: 5001)")
    s.add_argument("--max-mb", type=_positive_float, default=None,
                   help="largest song accepted, in MB (default: GENREVAE_MAX_PAYLOAD_MB, else 100)")
    s.set_defaults(func=_cmd_serve)

    o = sub.add_parser(
        "run-of",
        help="the MLflow run(s) logged for the params of params.yaml, newest first",
        description="Print the id, name and commit of the finished MLflow runs whose composed "
        "params equal those of PARAMS (tag genrevae.params_digest). When DVC restores "
        "evaluate from its run-cache nothing is logged: this finds the run that made the "
        "restored outputs.",
    )
    o.add_argument("params", nargs="?", type=Path, default=Path("params.yaml"),
                   help="the params file (default: params.yaml)")
    o.set_defaults(func=_cmd_run_of)

    for action, what in (("push", "`dvc push --run-cache`: send what the workspace built, and "
                          "the run-cache, to the DVC remote"),
                         ("pull", "`dvc pull`: restore the data, features, models and plots "
                          "of dvc.lock from the DVC remote instead of recomputing them")):
        t = sub.add_parser(action, help=what.split(": ", 1)[1], description=f"{what}; a "
                           "failure (server down, key refused, files missing) in one line.")
        t.add_argument("-r", "--remote", default=None,
                       help="the DVC remote (default: the default remote, `shared`)")
        t.add_argument("targets", nargs="*", metavar="TARGET",
                       help="stages or outputs (default: everything in dvc.lock)")
        t.set_defaults(func=_cmd_transfer)
    return parser


def main(argv: list[str] | None = None) -> None:
    try:
        args = build_parser().parse_args(argv)
        args.func(args)
    except GenreVAEError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except BrokenPipeError:
        _reader_gone()
    try:  # what is still buffered goes now, while a closed pipe can be handled here
        sys.stdout.flush()
    except BrokenPipeError:
        _reader_gone()


def _reader_gone() -> None:
    """The reader of stdout left (`genrevae predict ... | head`): stop quietly, as a Unix
    tool killed by SIGPIPE does (exit status 141), instead of a traceback. stdout is
    pointed at /dev/null so the interpreter's final flush does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(141)


if __name__ == "__main__":
    main()
