"""The model in MLflow, against a real SQLite store and a real `mlflow models serve`: two
tiny pipeline runs (in-process, the stages' own functions) each log a pyfunc model and
register a version of `genrevae`; `genrevae promote` sets `champion`; predict through
models:/ and runs:/ equals predict on the run's own model folder; a tampered model is
refused in one line; the server (started by `genrevae serve` on a loopback port, in its own
process group) answers a posted WAV and MP3 as predict does, and bad songs with a 400."""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from genrevae.cli import main as cli_main
from genrevae.pipeline.runner import run_inline
from genrevae.serving.bundle import FILES, sha256
from genrevae.tracking import registry
from genrevae.tracking.registry import DIGEST_TAG, LOADER, MODEL_NAME

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from mlflow.tracking import MlflowClient

STAGES = ("prepare", "extract_audio", "embed_lyrics", "fuse", "train", "cluster", "evaluate")
GENRES = ["blues", "classical", "hiphop", "metal"]
ENV_KEYS = ("MLFLOW_TRACKING_URI", "DVC_ROOT", "DVC_EXP_NAME", "DVC_EXP_BASELINE_REV",
            "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID", "GENREVAE_MAX_PAYLOAD_MB")
BIN = Path(sys.executable).parent
MAX_MB = 2  # the served model's payload limit: a 30-s GTZAN WAV (1.3 MB) fits


def _run(root: Path, stages) -> None:
    deterministic = torch.are_deterministic_algorithms_enabled()
    with contextlib.chdir(root):
        try:
            for stage in stages:
                run_inline(stage, "params.yaml")
        finally:
            torch.use_deterministic_algorithms(deterministic)


@pytest.fixture(scope="module")
def store(tmp_path_factory, tiny_composed, torch_one_thread):
    """Run A: the tiny pipeline; run B: its features, retrained with a 3-d latent. Both
    log to one SQLite store whose artifacts live under its root."""
    root = tmp_path_factory.mktemp("registry").resolve()
    uri = f"sqlite:///{root}/mlflow.db"
    with pytest.MonkeyPatch.context() as mp:
        for key in ENV_KEYS:
            mp.delenv(key, raising=False)
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.setenv("DVC_ROOT", str(root))
        a, b = root / "a", root / "b"
        a.mkdir()
        (a / "params.yaml").write_text(yaml.safe_dump(tiny_composed, sort_keys=False))
        _run(a, STAGES)
        p = copy.deepcopy(tiny_composed)
        p["latent_dim"] = 3
        if "latent_dim" in p["model"]:
            p["model"]["latent_dim"] = 3
        b.mkdir()
        (b / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
        for part in ("data/prepared", "data/features"):
            shutil.copytree(a / part, b / part)
        _run(b, ("train", "cluster", "evaluate"))
        client = MlflowClient(tracking_uri=uri)
        runs = {}
        for name, folder in (("a", a), ("b", b)):
            # The folder's probe names only its data; the store knows the run by its model.
            probe = json.loads((folder / "models" / "probe.json").read_text())
            assert probe["provenance"] == {"data": "synthetic"}
            found = registry.folder_provenance(folder / "models")
            runs[name] = client.get_run(found["run_id"])
            assert found["version"] == runs[name].data.tags[registry.VERSION_TAG]
        yield SimpleNamespace(root=root, uri=uri, a=a, b=b, client=client, runs=runs,
                              env={**os.environ})


@pytest.fixture(scope="module")
def songs(shared_data) -> list[Path]:
    found = [shared_data / "gtzan_sample" / "blues" / n
             for n in ("blues.00000.wav", "blues.00099.mp3")]
    found = [p for p in found if p.is_file()]
    if len(found) < 2:
        pytest.skip("the GTZAN WAV and MP3 are not in ../shared/data")
    return found


def cli(capsys, *args: str) -> tuple[str, list[str], int]:
    code = 0
    try:
        cli_main(list(args))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return out.out, out.err.splitlines(), code


def predict(capsys, model: str, files) -> tuple[list[dict], list[str]]:
    out, err, code = cli(capsys, "predict", "--model", model, *map(str, files))
    assert code == 0, err
    return json.loads(out), err


def answer(p: dict) -> dict:
    """What a prediction says of the song (not of the model)."""
    return {k: p[k] for k in ("top_genre", "nearest_cluster", "n_segments", "probabilities",
                              "latent")}


def version_of(store, run) -> str:
    (mv,) = store.client.search_model_versions(f"name = '{MODEL_NAME}' and "
                                               f"run_id = '{run.info.run_id}'")
    return str(mv.version)


def model_root(store, run) -> Path:
    """The run's logged model in the artifact store (MLflow 3: models/m-<id>/artifacts)."""
    mv = store.client.get_model_version(MODEL_NAME, version_of(store, run))
    found = [p.parent for p in store.root.glob("mlartifacts/models/*/artifacts/MLmodel")
             if mv.source.endswith(p.parent.parent.name)]
    assert len(found) == 1, (mv.source, found)
    return found[0]


def test_each_run_registers_a_version_of_data_files(store) -> None:
    """One version per run; the MLflow model names the package's loader module, holds only
    data (model.pt, probe.json, input_transform.json, no pickle), and their SHA-256 are
    recorded on the run and the version; model.pt loads weights-only."""
    versions = store.client.search_model_versions(f"name = '{MODEL_NAME}'")
    assert sorted(mv.run_id for mv in versions) == sorted(
        r.info.run_id for r in store.runs.values())
    for run in store.runs.values():
        root = model_root(store, run)
        mlmodel = yaml.safe_load((root / "MLmodel").read_text())
        assert mlmodel["flavors"]["python_function"]["loader_module"] == LOADER
        assert mlmodel["flavors"]["python_function"]["data"] == "data/model"
        assert not [p for p in root.rglob("*") if p.suffix in {".pkl", ".pickle", ".cloudpickle"}]
        data = root / "data" / "model"
        assert sorted(p.name for p in data.iterdir()) == sorted(FILES)
        recorded = json.loads(run.data.tags[DIGEST_TAG])
        assert recorded == {name: sha256(data / name) for name in FILES}
        mv = store.client.get_model_version(MODEL_NAME, version_of(store, run))
        assert json.loads(mv.tags[DIGEST_TAG]) == recorded
        ckpt = torch.load(data / "model.pt", map_location="cpu", weights_only=True)
        assert set(ckpt) == {"state_dict", "model", "meta"}
        inputs = json.loads(mlmodel["signature"]["inputs"])
        assert inputs[0] == {"type": "binary", "name": "audio", "required": True}


def test_input_example_is_a_valid_serving_request(store) -> None:
    """MLflow's own conversion turns the logged input example into a request (the song
    base64 in dataframe_split) that its serving validation answers with a prediction."""
    from mlflow.models import (
        Model,
        convert_input_example_to_serving_input,
        validate_serving_input,
    )

    root = model_root(store, store.runs["a"])
    example = Model.load(root).load_input_example(str(root))
    request = convert_input_example_to_serving_input(example)
    parsed = json.loads(request)
    assert parsed["dataframe_split"]["columns"] == ["audio", "name"]
    song = base64.b64decode(parsed["dataframe_split"]["data"][0][0])
    assert song[:4] == b"RIFF"
    assert json.loads((root / "serving_input_example.json").read_text()) == parsed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # deprecated in 3.13, still MLflow's own
        out = validate_serving_input(str(root), request)
    row = out.iloc[0].to_dict() if hasattr(out, "iloc") else out[0]
    assert row["top_genre"] in GENRES and row["model"]["run"] == store.runs["a"].info.run_name


def test_promote_then_champion_predicts_as_the_runs_folder(capsys, store, songs) -> None:
    """`genrevae promote RUN_NAME` points champion at run A's version (not the newest, B):
    predict --model models:/genrevae@champion equals predict --model <A's models folder> on
    a GTZAN WAV and MP3, names the run, version, data and genres, and warns once that the
    genres are the synthetic corpus's. Promoting B by run id moves the alias."""
    a, b = store.runs["a"], store.runs["b"]
    out, err, code = cli(capsys, "promote", a.info.run_name)
    assert code == 0, err
    assert f"version {version_of(store, a)}" in out and a.info.run_id in out
    champion, err = predict(capsys, "models:/genrevae@champion", songs)
    folder, _ = predict(capsys, str(store.a / "models"), songs)
    other, _ = predict(capsys, str(store.b / "models"), songs)
    assert [answer(p) for p in champion] == [answer(p) for p in folder]
    assert [answer(p) for p in champion] != [answer(p) for p in other]
    info = champion[0]["model"]
    assert info["run"] == a.info.run_name and info["run_id"] == a.info.run_id
    assert info["version"] == version_of(store, a) and info["registered_model"] == MODEL_NAME
    assert info["data"] == "synthetic" and info["genres"] == GENRES and info["trained"]
    # A folder's run is found in the store by its model's digest: the same provenance.
    assert folder[0]["model"] == info
    warnings_ = [line for line in err if line.startswith("warning:")]
    assert err == warnings_ and len(warnings_) == 1 and "synthetic" in warnings_[0]

    _, err, code = cli(capsys, "promote", b.info.run_id)
    assert code == 0, err
    moved, _ = predict(capsys, "models:/genrevae@champion", songs[:1])
    assert moved[0]["model"]["run"] == b.info.run_name
    assert answer(moved[0]) == answer(other[0])


def test_runs_uri_predicts_as_the_runs_folder(capsys, store, songs) -> None:
    a = store.runs["a"]
    by_run, _ = predict(capsys, f"runs:/{a.info.run_id}/model", songs[:1])
    folder, _ = predict(capsys, str(store.a / "models"), songs[:1])
    assert answer(by_run[0]) == answer(folder[0])
    assert by_run[0]["model"]["version"] == version_of(store, a)


def test_unknown_run_or_alias_is_one_error(capsys, store, songs) -> None:
    _, err, code = cli(capsys, "promote", "no-such-run")
    assert code == 2 and len(err) == 1 and err[0].startswith("error: no MLflow run named")
    _, err, code = cli(capsys, "predict", "--model", "models:/genrevae@nobody", str(songs[0]))
    assert code == 2 and len(err) == 1 and err[0].startswith("error: MLflow tracking at")


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _rename_genre(path: Path) -> None:
    probe = json.loads(path.read_text())
    probe["classes"][0] = "rock"
    path.write_text(json.dumps(probe, indent=2))


@pytest.mark.parametrize(("change", "why"), [
    (lambda d: _flip_byte(d / "model.pt"), "model.pt differs from the file logged"),
    (lambda d: _rename_genre(d / "probe.json"), "probe.json differs"),
    (lambda d: (d / "extra.pt").write_bytes(b"\x80\x04K\x01."), "extra.pt was not logged"),
    (lambda d: (d / "input_transform.json").unlink(), "input_transform.json is missing"),
])
def test_tampered_model_is_refused_in_one_line(capsys, store, songs, change, why) -> None:
    """A file of B's registered model changed in the artifact store: predict, `genrevae
    serve` and MLflow's own loader refuse it in one line naming the file; nothing runs."""
    from mlflow.pyfunc import load_model

    from genrevae.errors import ArtifactError

    b = store.runs["b"]
    data = model_root(store, b) / "data" / "model"
    backup = store.root / "backup"
    shutil.copytree(data, backup)
    uri = f"models:/genrevae/{version_of(store, b)}"
    try:
        change(data)
        out, err, code = cli(capsys, "predict", "--model", uri, str(songs[0]))
        assert code == 2 and out == "" and len(err) == 1, err
        assert err[0].startswith(f"error: {uri}: ") and why in err[0] and "refused" in err[0]
        proc = subprocess.run([str(BIN / "genrevae"), "serve", "--model", uri, "--port", "1"],
                              cwd=store.root, env=store.env, capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 2 and proc.stderr.splitlines() == err, proc.stderr
        with pytest.raises(ArtifactError, match=why):
            load_model(uri)
    finally:
        shutil.rmtree(data)
        shutil.move(backup, data)


def test_a_model_that_cannot_predict_from_audio_is_not_logged(store, tiny_composed) -> None:
    """A lyrics-only model: evaluate's run says why in a tag, and no version is added."""
    from genrevae.tracking import pipeline_run
    from genrevae.tracking.registry import NOT_LOGGED_TAG, log_model

    root = store.root / "lyrics"
    p = copy.deepcopy(tiny_composed)
    p["model"]["input"] = "lyrics"
    root.mkdir()
    (root / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    for part in ("data/prepared", "data/features"):
        shutil.copytree(store.a / part, root / part)
    _run(root, ("train",))
    before = len(store.client.search_model_versions(f"name = '{MODEL_NAME}'"))
    with pipeline_run(params={"model": {"input": "lyrics"}}) as run:
        assert log_model(run, root / "models" / "model.pt",
                         store.a / "models" / "probe.json") is None
    assert "reads lyrics only" in store.client.get_run(run.run_id).data.tags[NOT_LOGGED_TAG]
    assert len(store.client.search_model_versions(f"name = '{MODEL_NAME}'")) == before


# ---------------------------------------------------------------- over HTTP


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url: str, body: dict | bytes) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(f"{url}/invocations", data=data,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=300) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def records(*songs: tuple[bytes, str]) -> dict:
    return {"dataframe_records": [{"audio": base64.b64encode(audio).decode(), "name": name}
                                  for audio, name in songs]}


@pytest.fixture(scope="module")
def server(store):
    """`genrevae serve` on champion = run A, in its own process group, killed after."""
    assert subprocess.run([str(BIN / "genrevae"), "promote", store.runs["a"].info.run_name],
                          cwd=store.root, env=store.env, capture_output=True,
                          timeout=300).returncode == 0
    port = _free_port()
    env = {**store.env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    log = (store.root / "serve.log").open("w")
    started = time.monotonic()
    proc = subprocess.Popen([str(BIN / "genrevae"), "serve", "--port", str(port), "--max-mb",
                             str(MAX_MB)], cwd=store.root, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{url}/ping", timeout=5) as resp:
                    if resp.status == 200:
                        break
            if proc.poll() is not None or time.monotonic() - started > 300:
                pytest.fail("server did not start:\n" + (store.root / "serve.log").read_text())
            time.sleep(0.5)
        print(f"\nserver up in {time.monotonic() - started:.1f} s")
        yield SimpleNamespace(url=url, proc=proc)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def test_served_answers_equal_predict(capsys, store, server, songs) -> None:
    """A posted WAV and MP3 (base64, dataframe_records and dataframe_split) get the genre
    probabilities, top genre, cluster and latent that predict prints for the files, with
    the same provenance and the synthetic-corpus warning."""
    expected, _ = predict(capsys, "models:/genrevae@champion", songs)
    status, got = post(server.url, records(*[(s.read_bytes(), s.name) for s in songs]))
    assert status == 200, got
    rows = got["predictions"]
    assert [r["track"] for r in rows] == [s.name for s in songs]
    assert [answer(r) for r in rows] == [answer(p) for p in expected]
    info = rows[0]["model"]
    assert "synthetic" in info.pop("warning")
    assert info == expected[0]["model"]
    split = {"dataframe_split": {"columns": ["audio"], "data": [
        [base64.b64encode(songs[1].read_bytes()).decode()]]}}
    status, got = post(server.url, split)
    assert status == 200 and answer(got["predictions"][0]) == answer(expected[1])


def _clip(seconds: float) -> bytes:
    import io

    sr = 22050
    t = np.arange(int(sr * seconds)) / sr
    buf = io.BytesIO()
    sf.write(buf, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), sr, format="WAV")
    return buf.getvalue()


@pytest.mark.parametrize(("body", "why"), [
    (records((b"this is not a song, just text\n" * 20, "notes.wav")),
     "notes.wav: cannot decode audio"),
    (records((_clip(0.5), "half.wav")), "half.wav: 0.50 s fills less than 50%"),
    (records((os.urandom(int(MAX_MB * 1e6) + 1000), "huge.wav")),
     f"huge.wav: 2.0 MB is more than the {MAX_MB} MB"),
    ({"dataframe_records": [{"audio": "!!! not base64 !!!"}]}, "Failed to convert column audio"),
    (b"{not json", "Invalid input"),
])
def test_bad_payload_is_a_400_and_the_server_keeps_serving(server, songs, body, why) -> None:
    """Text, a 0.5-s clip, a payload over --max-mb, bad base64 or bad JSON: a 4xx whose
    `reason` (or MLflow's own message for what never reached the model) says why in one
    line; the next good request is answered."""
    status, got = post(server.url, body)
    assert 400 <= status < 500, got
    reason = got.get("reason") or got["message"]
    assert why in reason, got
    if "reason" in got:
        assert "\n" not in got["reason"]
    status, good = post(server.url, records((songs[0].read_bytes(), songs[0].name)))
    assert status == 200 and good["predictions"][0]["top_genre"] in GENRES
    assert server.proc.poll() is None


def test_a_model_logged_from_a_copy_of_the_project_is_registered(store, tmp_path,
                                                                 monkeypatch) -> None:
    """A `dvc queue` experiment runs in a copy of the project, its store found by DVC_ROOT:
    the version is registered in the project's store (MLflow's registry looks the logged
    model up through the global tracking URI, by default ./mlflow.db of the copy)."""
    from genrevae import tracking

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(store.root))
    copy_ = tmp_path / "copy"
    copy_.mkdir()
    monkeypatch.chdir(copy_)
    models = store.a / "models"
    with tracking.pipeline_run(params={"seed": 7, "data": {"name": "synthetic"}}) as run:
        version = registry.log_model(run, models / "model.pt", models / "probe.json")
        run.finish(headline={}, history=[], table={}, artifacts=[])
    assert version is not None
    found = store.client.get_model_version(MODEL_NAME, version)
    assert found.run_id == run.run_id
    assert not (copy_ / "mlflow.db").exists()
