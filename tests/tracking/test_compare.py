"""`genrevae compare`: runs read back from a real SQLite MLflow store, as text and PNG."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from genrevae import cli
from genrevae.errors import GenreVAEError
from genrevae.evaluation.headline import KEYS
from genrevae.tracking import DatasetInfo, pipeline_run
from genrevae.tracking.compare import (
    ID_COLUMNS,
    find_runs,
    format_table,
    headline_frame,
    records,
    score_keys,
)
from genrevae.tracking.compare_seeds import (
    DataSet,
    RunRecord,
    differing,
    format_configurations,
    group,
    pairs,
    t_interval,
)

ISSUE_31_KEYS = ("ami", "ami_base", "ami_gain", "ami_net", "ami_lang", "n_test", "n_genres",
                 "ami_chance", "nmi_chance", "small_test")


def _log(name: str, latent_dim: int, nmi: float) -> None:
    params = {"latent_dim": latent_dim, "model": {"name": "vae", "input": "audio"}}
    # Runs as logged before ami, n_test and small_test joined the headline.
    head = dict.fromkeys([k for k in KEYS if k not in ISSUE_31_KEYS], 0.5) | {
        "nmi": nmi, "nmi_base": 0.4, "nmi_gain": nmi - 0.4, "active": latent_dim, "epoch": 9,
        "nmi_lang": None}
    with pipeline_run(params=params, tags={"model": "vae", "input": "audio"}) as run:
        run.finish(headline=head, history=[], table={}, artifacts=[])
    assert run.name == name


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare").resolve()
    with pytest.MonkeyPatch.context() as mp:
        for key in ("DVC_EXP_NAME", "DVC_EXP_BASELINE_REV", "MLFLOW_EXPERIMENT_NAME"):
            mp.delenv(key, raising=False)
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root}/mlflow.db")
        mp.setenv("DVC_ROOT", str(root))
        mp.chdir(root)
        for name, dim, nmi in (("small", 8, 0.61), ("big", 64, 0.72), ("mid", 16, 0.66)):
            mp.setenv("DVC_EXP_NAME", name)
            _log(name, dim, nmi)
        mp.delenv("DVC_EXP_NAME")
        yield root


def test_newest_runs_oldest_first(store) -> None:
    assert [r.info.run_name for r in find_runs(last=2)] == ["big", "mid"]
    assert [r.info.run_name for r in find_runs()] == ["small", "big", "mid"]


def test_named_runs_in_the_order_given(store) -> None:
    runs = find_runs(["mid", "small"])
    assert [r.info.run_name for r in runs] == ["mid", "small"]
    by_id = find_runs([runs[0].info.run_id])
    assert [r.info.run_name for r in by_id] == ["mid"]
    with pytest.raises(GenreVAEError, match="no run named 'nope'"):
        find_runs(["nope"])


def test_table_puts_each_score_beside_its_baseline(store) -> None:
    frame = headline_frame(find_runs(["small", "big"]))
    keys = score_keys()
    assert list(frame.columns) == [*ID_COLUMNS, *keys]
    assert frame["z"].tolist() == ["8", "64"]
    lines = format_table(frame).splitlines()
    assert lines[0].split() == [*ID_COLUMNS, *keys]
    small = lines[2].split()
    # These runs predate seed, n_test and ami: "-" where a run lacks a number.
    assert small[:6] == ["small", "vae", "audio", "8", "-", "-"]
    row = dict(zip(keys, small[6:], strict=True))
    assert row["nmi"] == "0.610" and row["nmi_base"] == "0.400" and row["nmi_gain"] == "+0.210"
    assert row["nmi_lang"] == "-" and row["active"] == "8" and row["epoch"] == "9"
    assert row["ami"] == "-" and row["ami_chance"] == "-"


def test_cli_runs_prints_and_draws(store, tmp_path: Path, capsys) -> None:
    png = tmp_path / "compare.png"
    cli.main(["compare", "-n", "3", "--runs", "--png", str(png)])
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()[2:5]] == ["small", "big", "mid"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_older_runs_one_seed_each(store, capsys) -> None:
    """Runs without seed, ami or n_test: three configurations of one run each, no interval,
    no verdict, the verdict on nmi."""
    cli.main(["compare", "-n", "3"])
    out = capsys.readouterr().out
    assert all(len(line) <= 100 for line in out.splitlines())
    assert "(one seed)" in out
    assert "verdict (nmi" in out and "no configuration is better on these seeds" in out
    assert "- : not logged by that run" in out


def test_cli_unknown_experiment_is_one_error_line(store, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["compare", "--experiment", "nothing-here"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: no MLflow experiment 'nothing-here'")


# --- seeds: two configurations of three seeds, logged as the evaluate stage logs them ------

def _flat(tree: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in tree.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


# Per (latent_dim, seed): nmi, nmi_base, ami, ami_base. B - A on ami is +0.06, +0.05, +0.07
# (an interval above zero); on nmi +0.05, -0.05, +0.04 (an interval across zero).
SCORES_BY_RUN = {
    (16, 0): (0.50, 0.45, 0.20, 0.17), (32, 0): (0.55, 0.45, 0.26, 0.17),
    (16, 1): (0.58, 0.47, 0.25, 0.19), (32, 1): (0.53, 0.47, 0.30, 0.19),
    (16, 2): (0.52, 0.44, 0.21, 0.18), (32, 2): (0.56, 0.44, 0.28, 0.18),
    (16, 3): (0.51, 0.45, 0.22, 0.18), (32, 3): (0.90, 0.45, 0.60, 0.18),
}


def _manifest(root: Path, seed: int, *, changed: bool = False) -> Path:
    """A manifest of 16 tracks whose split is drawn from the seed, as `prepare` writes it."""
    rng = np.random.default_rng(seed)
    splits = rng.permutation(["train"] * 10 + ["val"] * 3 + ["test"] * 3)
    path = root / f"manifest-{seed}{'-changed' if changed else ''}.csv"
    rows = [f"t{i:02d},{'blues classical hiphop metal'.split()[i % 4]},{s}"
            for i, s in enumerate(splits)]
    if changed:  # the same number of tracks, one replaced
        rows[0] = rows[0].replace("t00", "t99")
    path.write_text("track_id,genre,split\n" + "\n".join(rows) + "\n")
    return path


def _log_seeded(mp, root: Path, base: dict, name: str, dim: int, seed: int, *,
                small: bool = False, data: tuple[str, str | None] = ("synthetic", None),
                manifest: Path | None = None, **param_changes) -> None:
    params = copy.deepcopy(base)
    params["latent_dim"], params["seed"] = dim, seed
    params["data"]["name"], params["data"]["root"] = data
    for dotted, value in param_changes.items():
        section, key = dotted.split("__")
        params[section][key] = value
    nmi, nmi_base, ami, ami_base = SCORES_BY_RUN[(dim, seed)]
    head = {"nmi": nmi, "nmi_base": nmi_base, "nmi_gain": round(nmi - nmi_base, 3),
            "ami": ami, "ami_base": ami_base, "ami_gain": round(ami - ami_base, 3),
            "ari": ami - 0.05, "ari_base": ami_base - 0.05, "probe": 0.6, "probe_gain": 0.1,
            "n_test": 2.0 if small else 24.0, "n_genres": 4.0, "nmi_chance": 0.3,
            "ami_chance": 0.04, "small_test": 1.0 if small else 0.0}
    dataset = DatasetInfo(name=data[0], path=manifest or _manifest(root, seed),
                          source=data[1] or "", profile={"tracks": 16, "genres": 4})
    mp.setenv("DVC_EXP_NAME", name)
    with pipeline_run(params=params, dataset=dataset,
                      tags={"genrevae.small_test": "true"} if small else {}) as run:
        run.finish(headline=head, history=[], table={}, artifacts=[])
    assert run.name == name


@pytest.fixture(scope="module")
def seeded(tmp_path_factory, tiny_composed):
    """Experiment ``seeds``: A (latent_dim=16) and B (32), seeds 0-3, B's seed 3 flagged
    small, A's seed 0 run twice; experiments ``mixed`` and ``changed`` for the refusals."""
    root = tmp_path_factory.mktemp("seeds").resolve()
    with pytest.MonkeyPatch.context() as mp:
        for key in ("DVC_EXP_BASELINE_REV", "MLFLOW_EXPERIMENT_NAME"):
            mp.delenv(key, raising=False)
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root}/mlflow.db")
        mp.setenv("DVC_ROOT", str(root))
        mp.chdir(root)
        mp.setenv("MLFLOW_EXPERIMENT_NAME", "seeds")
        for seed in range(4):
            # n_jobs is bookkeeping: seed 2 of A ran with another and is still A.
            _log_seeded(mp, root, tiny_composed, f"a{seed}", 16, seed,
                        **({"features__n_jobs": 1} if seed == 2 else {}))
            _log_seeded(mp, root, tiny_composed, f"b{seed}", 32, seed, small=seed == 3)
        _log_seeded(mp, root, tiny_composed, "a0-again", 16, 0)
        mp.setenv("MLFLOW_EXPERIMENT_NAME", "mixed")
        _log_seeded(mp, root, tiny_composed, "m-synthetic", 16, 0)
        _log_seeded(mp, root, tiny_composed, "m-gtzan", 32, 0,
                    data=("gtzan", "data/raw/gtzan"))
        mp.setenv("MLFLOW_EXPERIMENT_NAME", "changed")
        _log_seeded(mp, root, tiny_composed, "c-before", 16, 1)
        _log_seeded(mp, root, tiny_composed, "c-after", 32, 1,
                    manifest=_manifest(root, 1, changed=True))
        mp.delenv("DVC_EXP_NAME")
        mp.delenv("MLFLOW_EXPERIMENT_NAME")
        yield root


def _paired(first: int, second: int, index: int, seeds) -> tuple[float, float, float]:
    """Mean and 95 % t-interval of second - first, computed here with scipy."""
    d = np.array([SCORES_BY_RUN[(second, s)][index] - SCORES_BY_RUN[(first, s)][index]
                  for s in seeds])
    low, high = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    return d.mean(), low, high


def test_runs_that_differ_only_in_seed_form_a_configuration(seeded) -> None:
    configs = group(records(find_runs(last=20, experiment="seeds")))
    assert [(c.letter, c.params["latent_dim"], [r.seed for r in c.runs]) for c in configs] == [
        ("A", "16", ["0", "1", "2", "3"]), ("B", "32", ["0", "1", "2", "3"])]
    assert [r.name for r in configs[0].runs] == ["a0-again", "a1", "a2", "a3"]
    assert [r.name for r in configs[0].set_aside] == ["a0"]
    assert configs[0].label == "latent_dim=16" and configs[1].label == "latent_dim=32"
    assert configs[0].data == DataSet("synthetic", "", "16", "4")
    assert [r.small for r in configs[1].runs] == [False, False, False, True]


def test_paired_interval_over_shared_unflagged_seeds(seeded) -> None:
    configs = group(records(find_runs(last=20, experiment="seeds")))
    (pair,) = pairs(configs)
    assert pair.seeds == ["0", "1", "2"] and pair.left_out == ["3"]
    for score, index in (("nmi", 0), ("ami", 2)):
        mean, low, high = _paired(16, 32, index, range(3))
        iv = pair.diffs[score]
        assert iv.n == 3
        assert iv.mean == pytest.approx(mean) and iv.low == pytest.approx(low)
        assert iv.high == pytest.approx(high)
    assert pair.verdict("ami") == "B beats A" and pair.verdict("nmi") is None
    # Per configuration: the mean and interval of A's ami and of its margin, over 4 seeds.
    a = [SCORES_BY_RUN[(16, s)] for s in range(4)]
    ami = t_interval([r[2] for r in a])
    low, high = stats.t.interval(0.95, 3, loc=np.mean([r[2] for r in a]),
                                 scale=stats.sem([r[2] for r in a]))
    assert (ami.low, ami.high) == (pytest.approx(low), pytest.approx(high))


def test_cli_prints_configurations_intervals_verdict_and_draws(seeded, tmp_path, capsys) -> None:
    png = tmp_path / "seeds.png"
    cli.main(["compare", "--experiment", "seeds", "-n", "20", "--png", str(png)])
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert all(len(line) <= 100 for line in lines), max(lines, key=len)
    runs = {line.split()[0]: line.split() for line in lines[2:11]}
    assert runs["b3"][1:4] == ["B", "3", "2!"] and runs["a1"][1:4] == ["A", "1", "24"]
    assert runs["a0"][1] == "a"  # set aside for a0-again
    assert any(line.split()[:2] == ["A", "latent_dim=16"] and "4 seeds (0,1,2,3)" in line
               for line in lines)
    assert "data of A,B: synthetic, root -, 16 tracks, 4 genres; 4 manifests" in out
    mean, low, high = _paired(16, 32, 2, range(3))
    ami_line = next(line for line in lines[lines.index("  B - A  seeds 0,1,2 (left out, "
                                                        "small test: 3)"):] if "ami" in line)
    assert ami_line.split() == ["ami", f"{mean:+.3f}", f"[{low:+.3f},", f"{high:+.3f}]"]
    verdict = next(i for i, line in enumerate(lines) if line.startswith("verdict"))
    assert lines[verdict] == "verdict (ami, 95% paired interval above zero): B beats A"
    assert lines[verdict + 1].startswith("! small test set") and "b3" in out[out.index("!"):]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    cli.main(["compare", "--experiment", "seeds", "-n", "20", "--score", "nmi"])
    assert ("verdict (nmi, 95% paired interval above zero): no configuration is better on "
            "these seeds") in capsys.readouterr().out


def test_a_single_seed_has_no_interval(seeded, capsys) -> None:
    cli.main(["compare", "--experiment", "seeds", "a1", "b1"])
    out = capsys.readouterr().out
    assert "(one seed)" in out and "no configuration is better on these seeds" in out


def test_runs_on_different_data_are_refused_naming_them(seeded, capsys) -> None:
    for experiment, words in (("mixed", ["m-synthetic on synthetic", "m-gtzan on gtzan"]),
                              ("changed", ["c-before manifest", "c-after manifest",
                                           "the data changed"])):
        with pytest.raises(SystemExit) as info:
            cli.main(["compare", "--experiment", experiment])
        assert info.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ")
        assert all(w in err[0] for w in words), err[0]
    cli.main(["compare", "--experiment", "mixed", "--allow-mixed-data"])
    out = capsys.readouterr().out
    assert "B - A  not compared: different data" in out
    assert "no configuration is better on these seeds" in out


def test_same_params_on_different_data_are_not_one_configuration(seeded) -> None:
    recs = records(find_runs(["c-before"], experiment="changed"))
    moved = [replace(recs[0], name="elsewhere", data=DataSet("synthetic", "other", "16", "4"))]
    with pytest.raises(GenreVAEError, match=r"same params but for seed were scored on "
                       r"different data.*c-before on synthetic.*elsewhere on synthetic, root other"):
        group(recs + moved)
    assert len(group(recs + moved, allow_mixed_data=True)) == 2


def test_params_column_names_what_the_configurations_differ_in(seeded, capsys) -> None:
    """The configurations table has a params column: latent_dim, the one param A and B
    differ in; not the seed, nor features.n_jobs (A's seed 2 ran with another)."""
    cli.main(["compare", "--experiment", "seeds", "-n", "20"])
    lines = capsys.readouterr().out.splitlines()
    head = lines.index("configurations (runs that differ only in seed):")
    header, a, b = lines[head + 1: head + 4]
    assert header.split() == ["cfg", "params", "seeds;", "test", "set"]
    assert a.startswith("  A    latent_dim=16  4 seeds (0,1,2,3); test 24 tracks")
    assert b.startswith("  B    latent_dim=32  4 seeds (0,1,2,3); test 2-24 tracks")
    assert header.index("params") == a.index("latent_dim") == b.index("latent_dim")
    assert header.index("seeds") == a.index("4 seeds")


def _sweep_record(dim: int, beta: float, seed: int) -> RunRecord:
    params = {"latent_dim": str(dim), "train.beta": str(beta), "model.name": "vae",
              "seed": str(seed), "features.n_jobs": str(seed + 1)}
    return RunRecord(f"z{dim}-b{beta}-s{seed}", params, {"nmi": 0.5, "nmi_base": 0.4},
                     DataSet("synthetic", ""))


def test_a_sweep_reads_as_one_row_per_combination_labelled_by_what_changed() -> None:
    """`-S latent_dim=16,32 -S train.beta=0.5,1.0 -S seed=0,1,2`: four rows, each labelled
    by the two params swept (sorted by name), aligned; seed and bookkeeping left out."""
    recs = [_sweep_record(dim, beta, seed) for dim in (16, 32) for beta in (0.5, 1.0)
            for seed in range(3)]
    assert differing([r.params for r in recs]) == ["latent_dim", "train.beta"]
    assert differing([recs[0].params, recs[1].params]) == []  # seeds of one configuration
    assert differing([{"a": "1"}, {"a": "1", "b": "2"}]) == ["b"]  # a param one run lacks
    configs = group(recs)
    text = format_configurations(configs, pairs(configs), "nmi").splitlines()
    assert text[2:6] == [
        f"  {c}    latent_dim={d} train.beta={b}  3 seeds (0,1,2); test - tracks, - genres"
        for c, d, b in (("A", 16, 0.5), ("B", 16, 1.0), ("C", 32, 0.5), ("D", 32, 1.0))]
    # With one configuration nothing differs: the column says which model it is.
    (only,) = group(recs[:3])
    assert only.label == "model.name=vae latent_dim=16"


def test_a_long_params_label_has_lines_of_its_own() -> None:
    """A label wider than the column (half the width) keeps its lines; the seeds follow in
    their column below it."""
    recs = [RunRecord(f"r{i}", {"model.encoder": f"{'conv-' * 12}{i}", "seed": "0"}, {},
                      DataSet("synthetic", "")) for i in range(2)]
    lines = format_configurations(group(recs), [], "nmi").splitlines()
    assert all(len(line) <= 100 for line in lines)
    header = lines[1]
    assert lines[2] == f"  A    model.encoder={'conv-' * 12}0"
    assert lines[3].index("1 seed (0)") == header.index("seeds")
    assert lines[4] == f"  B    model.encoder={'conv-' * 12}1"
