"""`genrevae compare`: runs read back from a real SQLite MLflow store, as text and PNG."""

from __future__ import annotations

from pathlib import Path

import pytest

from genrevae import cli
from genrevae.compare import find_runs, format_table, headline_frame
from genrevae.errors import GenreVAEError
from genrevae.evaluation.headline import KEYS
from genrevae.tracking import pipeline_run


def _log(name: str, latent_dim: int, nmi: float) -> None:
    params = {"latent_dim": latent_dim, "model": {"name": "vae", "input": "audio"}}
    head = dict.fromkeys(KEYS, 0.5) | {"nmi": nmi, "nmi_base": 0.4, "nmi_gain": nmi - 0.4,
                                        "active": latent_dim, "epoch": 9, "nmi_lang": None}
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
    assert list(frame.columns) == ["run", "model", "input", "z", *KEYS]
    assert frame["z"].tolist() == ["8", "64"]
    lines = format_table(frame).splitlines()
    assert lines[0].split() == ["run", "model", "input", "z", *KEYS]
    small = lines[2].split()
    assert small[:4] == ["small", "vae", "audio", "8"]
    row = dict(zip(KEYS, small[4:], strict=True))
    assert row["nmi"] == "0.610" and row["nmi_base"] == "0.400" and row["nmi_gain"] == "+0.210"
    assert row["nmi_lang"] == "-" and row["active"] == "8" and row["epoch"] == "9"


def test_cli_prints_and_draws(store, tmp_path: Path, capsys) -> None:
    png = tmp_path / "compare.png"
    cli.main(["compare", "-n", "3", "--png", str(png)])
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()[2:5]] == ["small", "big", "mid"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_unknown_experiment_is_one_error_line(store, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["compare", "--experiment", "nothing-here"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: no MLflow experiment 'nothing-here'")
