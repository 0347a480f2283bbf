"""The tracking store at its edges, for real: param names MLflow refuses, a read-only
database, a server that is not there. Each ends in a finished run or one `error:` line."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from genrevae import tracking
from genrevae.tracking import RENAMED_TAG, mlflow_params, pipeline_run

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from mlflow.tracking import MlflowClient
    from mlflow.utils.validation import _validate_param_name

ROOT = Path(__file__).resolve().parents[1]
# Genre names as users write them, and keys no param name may be.
GENRE_MAP = {"R&B": "rnb", "Drum & Bass": "dnb", "R_B": "rb", "gtzan:hiphop": "hip-hop",
             "a/../b": "c", "..": "d", "Música ñ": "latin", "tab\there": "t", "x" * 300: "long",
             "?*<>|\"'": "odd"}
PARAMS = {"seed": 1, "data": {"name": "gtzan", "genre_map": GENRE_MAP}}


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLFLOW_", "DVC_EXP"))}
    return {**env, "PYTHONPATH": str(ROOT / "src"), **extra}


def test_every_logged_param_name_passes_mlflows_own_rule() -> None:
    logged, renamed = mlflow_params(PARAMS)
    for name in logged:
        _validate_param_name(name)  # MLflow's check, the one the store applies
        assert len(name) <= 250
    assert len(logged) == 2 + len(GENRE_MAP)  # nothing merged, nothing lost
    assert logged["data.genre_map.Drum _ Bass"] == "dnb"
    assert logged["data.genre_map.gtzan:hiphop"] == "hip-hop"  # valid names are kept
    assert logged["data.genre_map.Música ñ"] == "latin"
    assert logged["data.genre_map.R_B"] == "rb"  # the valid key keeps its name
    (rnb,) = [n for n, key in renamed.items() if key == "data.genre_map.R&B"]
    assert rnb.startswith("data.genre_map.R_B-") and logged[rnb] == "rnb"
    assert set(renamed.values()) == {f"data.genre_map.{k}" for k in GENRE_MAP
                                     if k not in ("R_B", "gtzan:hiphop", "Música ñ", "..")}
    assert mlflow_params(PARAMS) == (logged, renamed)  # the same names every run


def test_genre_names_mlflow_refuses_still_make_a_finished_run(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """`"R&B"` in data.genre_map used to end the run FAILED at its very end."""
    for key in ("DVC_EXP_NAME", "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.delenv(key, raising=False)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    with pipeline_run(params=PARAMS) as run:
        run.finish(headline={"nmi": 0.5}, history=[], table={}, artifacts=[])
    got = MlflowClient(tracking_uri=uri).get_run(run.run_id)
    assert got.info.status == "FINISHED"
    logged, renamed = mlflow_params(PARAMS)
    assert got.data.params == logged
    assert json.loads(got.data.tags[RENAMED_TAG]) == renamed


def test_read_only_store_is_one_error_line(tmp_path: Path) -> None:
    """A store that cannot be written: one line naming the database's complaint, not the
    80 lines of SQLAlchemy tracebacks MLflow logs before raising."""
    db = tmp_path / "mlflow.db"
    subprocess.run([sys.executable, "-c", "from genrevae import tracking\n"
                    "with tracking.pipeline_run(params={}) as r:\n"
                    "    r.finish(headline={}, history=[], table={}, artifacts=[])"],
                   check=True, capture_output=True, cwd=tmp_path,
                   env=_env(MLFLOW_TRACKING_URI=f"sqlite:///{db}"), timeout=300)
    if os.geteuid() == 0:  # root writes through file modes: ask SQLite for read-only
        uri = f"sqlite:///file:{db}?mode=ro&uri=true"
    else:
        db.chmod(0o444)
        tmp_path.chmod(0o555)  # nor can a journal be created beside it
        uri = f"sqlite:///{db}"
    script = ("import sys\n"
              "from genrevae.pipeline.runner import setup_logging\n"
              "from genrevae import tracking\n"
              "from genrevae.errors import GenreVAEError\n"
              "setup_logging()\n"
              "try:\n"
              "    with tracking.pipeline_run(params={'seed': 1}) as r:\n"
              "        r.finish(headline={}, history=[], table={}, artifacts=[])\n"
              "except GenreVAEError as exc:\n"
              "    print(f'error: {exc}', file=sys.stderr)\n"
              "    sys.exit(2)\n")
    try:
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              cwd=tmp_path, env=_env(MLFLOW_TRACKING_URI=uri), timeout=300)
    finally:
        tmp_path.chmod(0o755)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [f"error: MLflow tracking at {uri} failed: attempt to "
                                        "write a readonly database"]


def test_unreachable_server_gives_up_in_about_30_s(tmp_path: Path) -> None:
    """A tracking server that is not there (a closed port): `genrevae compare` stops with
    one line after tracking.HTTP_DEFAULTS' retries (about 30 s), not MLflow's 4 minutes."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: connections are refused
    timing = tmp_path / "seconds"
    # The clock starts once MLflow is imported: the bound is on the retries, not the import.
    script = ("import sys, time\n"
              "import mlflow.tracking  # noqa: F401\n"
              "from genrevae import cli\n"
              "t = time.monotonic()\n"
              "try:\n"
              "    cli.main(['compare'])\n"
              "finally:\n"
              f"    open({str(timing)!r}, 'w').write(str(time.monotonic() - t))\n")
    uri = f"http://127.0.0.1:{port}"
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=tmp_path, env=_env(MLFLOW_TRACKING_URI=uri), timeout=300)
    seconds = float(timing.read_text())
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: MLflow tracking at {uri} failed: ")
    assert "Max retries exceeded" in lines[0]
    assert 25 < seconds < 60  # 0 + 2 + 4 + 8 + 16 s of backoff, and jitter


def test_user_settings_of_the_retries_win(monkeypatch: pytest.MonkeyPatch) -> None:
    """The defaults fill in only what the user did not set."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    for key in set(tracking.HTTP_DEFAULTS) - {"MLFLOW_HTTP_REQUEST_MAX_RETRIES"}:
        monkeypatch.delenv(key, raising=False)
    tracking.mlflow_client("http://127.0.0.1:9")  # a client; nothing is asked of it
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "1"
    assert os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] == "1"
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "10"
