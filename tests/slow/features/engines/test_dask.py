"""The Dask engine (features.engine=dask) on real distributed.LocalClusters of two worker
processes on loopback: generated tracks and the shared WAVs land in the store with arrays
identical to the local engine's, whether the workers write their rows (they see the store)
or send them back; a worker SIGKILLed mid-run is survived, or with no retries ends the run
in one DataError line; a killed run resumes with only the missing tracks; an unreachable
scheduler, a missing scheduler file or a cluster without workers is one error line."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import distributed
import numpy as np
import pytest

import genrevae.features.engines.dask as dask_engine
import genrevae.features.store as store
from genrevae.config import FeaturesConfig
from genrevae.errors import ConfigError, DataError
from genrevae.features.extraction import CorpusExtraction
from tests.slow.features.conftest import stage_params, write_corpus

SR = 22050
ROOT = Path(__file__).resolve().parents[4]
GENRES = ["rock", "jazz", "metal", "blues", "disco", "reggae"]


def _cfg(engine: str = "dask", scheduler: str | None = None, **kw) -> FeaturesConfig:
    base = dict(sample_rate=SR, segment_seconds=1.0, n_fft=2048, hop_length=512, n_mels=128,
                n_mfcc=20, n_jobs=2 if engine == "dask" else 1, engine=engine, scheduler=scheduler)
    return FeaturesConfig(**{**base, **kw})


def _extract(paths, cfg: FeaturesConfig, workdir: Path):
    job = CorpusExtraction(paths, cfg, workdir / ".audio.partial")
    outcomes = job.run(progress=False)
    job.promote(outcomes, workdir / "mel.npy", workdir / "handcrafted.npy")
    job.cleanup()
    return outcomes, np.load(workdir / "mel.npy"), np.load(workdir / "handcrafted.npy")


def _assert_same(got, want) -> None:
    assert got[0] == want[0]
    np.testing.assert_array_equal(got[1], want[1])  # bit for bit
    np.testing.assert_array_equal(got[2], want[2])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> list[str]:
    """Six generated tracks (2 to 3.5 s), an undecodable file and a silent one."""
    return write_corpus(tmp_path_factory.mktemp("corpus"), GENRES)


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory):
    """The local engine's extraction of the corpus (one process)."""
    return _extract(corpus, _cfg("local"), tmp_path_factory.mktemp("local"))


@pytest.fixture(scope="module")
def cluster():
    """A running cluster (two single-threaded worker processes on loopback) that tests
    reach by its address, as features.scheduler=tcp://... reaches a user's cluster; and a
    client of its own, to look at and kill its workers."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address="127.0.0.1:0") as lc, \
            distributed.Client(lc, set_as_default=False) as client:
        yield lc, client


def test_a_local_cluster_gives_the_local_arrays(corpus, reference, tmp_path):
    """scheduler null: the engine starts (and closes) a LocalCluster of n_jobs workers;
    outcomes, reasons and arrays equal the local engine's; no work folder is left."""
    _assert_same(_extract(corpus, _cfg(), tmp_path), reference)
    assert not (tmp_path / ".audio.partial").exists()


def test_shared_wavs_on_a_running_scheduler(shared_data, cluster, tmp_path):
    """The GTZAN WAVs in ../shared/data, 3-s segments, on a scheduler given by address:
    identical to the local engine."""
    wavs = sorted(str(p) for p in (shared_data / "gtzan_sample").glob("*/*.wav"))
    address = cluster[0].scheduler_address
    want = _extract(wavs, _cfg("local", segment_seconds=3.0), tmp_path / "local")
    got = _extract(wavs, _cfg(scheduler=address, segment_seconds=3.0), tmp_path / "dask")
    assert sum(o.n_segments for o in got[0]) == len(got[1]) >= 10 * len(wavs) - 2
    _assert_same(got, want)


def test_rows_come_back_when_workers_do_not_see_the_store(corpus, reference, cluster, tmp_path,
                                                          monkeypatch):
    """Workers that find no token of this run in the store's folder send their rows back,
    and the client writes them: the same arrays."""
    written = []
    write = dask_engine.write_rows
    monkeypatch.setattr(dask_engine, "_write_token", lambda folder: "a token no worker finds")
    monkeypatch.setattr(dask_engine, "write_rows",
                        lambda folder, row, mel, feats: written.append(row) or write(
                            folder, row, mel, feats))
    _assert_same(_extract(corpus, _cfg(scheduler=cluster[0].scheduler_address), tmp_path),
                 reference)
    assert len(written) == sum(o.n_segments > 0 for o in reference[0])


def test_the_extract_audio_stage_on_a_cluster(corpus, reference, cluster, params, tmp_path):
    """The stage with -S features.engine=dask -S features.scheduler=<address>: the same
    arrays and segment table as the local engine, and no work folder left."""
    import pandas as pd

    from genrevae.config import from_dict
    from genrevae.pipeline import extract_audio

    p = stage_params(params, tmp_path, segment_seconds=1.0, engine="dask",
                     scheduler=cluster[0].scheduler_address)
    out = tmp_path / "features" / "audio"
    cfg = from_dict(p)
    pd.DataFrame({"track_id": [f"t{i}" for i in range(len(corpus))], "path": corpus,
                  "genre": "g", "language": "english", "source": "folder", "lyrics": "",
                  "split": "train"}).to_csv(cfg.paths.manifest, index=False)
    extract_audio.run(cfg)
    segments = pd.read_csv(cfg.paths.segments)
    assert len(segments) == sum(o.n_segments for o in reference[0])
    np.testing.assert_array_equal(np.load(cfg.paths.mel), reference[1])
    np.testing.assert_array_equal(np.load(cfg.paths.handcrafted), reference[2])
    assert pd.read_csv(cfg.paths.skipped)["track_id"].tolist() == ["t3", f"t{len(corpus) - 1}"]
    assert not (out.parent / ".audio.partial").exists()


_CLIENT = """
import json, sys, time
import genrevae.features.engines.dask as dask_engine
import genrevae.features.store as store
from genrevae.config import FeaturesConfig
from genrevae.errors import GenreVAEError
from genrevae.features.extraction import CorpusExtraction

store.JOURNAL_EVERY_S = 0.0
work = dask_engine.extract_tracks


def slow(*args):  # defined in __main__: sent to the workers by value
    out = work(*args)
    time.sleep(0.4)
    return out


dask_engine.extract_tracks = slow
if __name__ == "__main__":
    paths, root, cfg = json.loads(sys.argv[1])
    try:
        CorpusExtraction(paths, FeaturesConfig(**cfg), root).run(progress=False)
    except GenreVAEError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
"""


def _start_client(tmp_path: Path, paths: list[str], cfg: FeaturesConfig):
    """A slowed extraction in another process, and the journal it fills."""
    script = tmp_path / "client.py"
    script.write_text(_CLIENT, encoding="utf-8")
    root = tmp_path / ".audio.partial"
    args = json.dumps([paths, str(root), dataclasses.asdict(cfg)])
    proc = subprocess.Popen([sys.executable, str(script), args], cwd=ROOT,
                            stderr=subprocess.PIPE, text=True)
    return proc, root / store.extraction_key(paths, cfg) / "done.jsonl"


def _wait_for(journal: Path, proc: subprocess.Popen, lines: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if journal.exists() and len(journal.read_text().splitlines()) >= lines:
            return
        time.sleep(0.05)
    assert proc.poll() is None, f"the extraction ended before the kill: {proc.stderr.read()}"


def _rerun_counting(paths, cfg, tmp_path, monkeypatch):
    """Rerun in this process; the tracks it journals."""
    added = []
    add = store.Journal.add
    monkeypatch.setattr(store.Journal, "add",
                        lambda self, index, outcome: added.append(index) or add(self, index, outcome))
    return _extract(paths, cfg, tmp_path), added


@pytest.mark.parametrize("retries", [3, 0])
def test_a_worker_killed_mid_run(corpus, reference, cluster, tmp_path, monkeypatch, retries):
    """SIGKILL a worker process while it runs a task. With Dask's retries (3) the task
    reruns on another worker and the run completes; with none the run ends with one
    DataError line naming a track. The rerun computes only the tracks not journaled, and
    the arrays equal the local engine's."""
    lc, client = cluster
    client.wait_for_workers(2, timeout=60)
    lc.scheduler.allowed_failures = retries
    cfg = _cfg(scheduler=lc.scheduler_address)
    try:
        proc, journal = _start_client(tmp_path, corpus, cfg)
        _wait_for(journal, proc, 1)
        pids = client.run(os.getpid)
        busy = [w for w, keys in client.processing().items() if keys]
        assert busy, "no task was running to kill a worker under"
        os.kill(pids[busy[0]], signal.SIGKILL)
        rc = proc.wait(timeout=120)
        err = proc.stderr.read()
    finally:
        lc.scheduler.allowed_failures = 3
    if retries:
        assert rc == 0, err
    else:
        assert rc == 2, err
        line = err.strip().splitlines()[-1]
        assert line.startswith("error: features.engine=dask: a Dask worker died running ")
        assert "rerun to resume" in line
    done_before = len(store.Journal.read(journal.parent))
    assert (done_before == len(corpus)) == bool(retries)
    client.wait_for_workers(2, timeout=60)  # the nanny restarts the killed worker
    got, added = _rerun_counting(corpus, cfg, tmp_path, monkeypatch)
    assert len(added) == len(corpus) - done_before
    _assert_same(got, reference)


def test_a_killed_run_resumes_with_only_the_missing_tracks(corpus, reference, cluster, tmp_path,
                                                           monkeypatch):
    """SIGKILL the extraction (the Dask client) midway: the rerun journals only the tracks
    the first did not, and the arrays equal the local engine's."""
    cfg = _cfg(scheduler=cluster[0].scheduler_address)
    proc, journal = _start_client(tmp_path, corpus, cfg)
    _wait_for(journal, proc, 2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = set(store.Journal.read(journal.parent))
    assert 2 <= len(done_before) < len(corpus)
    got, added = _rerun_counting(corpus, cfg, tmp_path, monkeypatch)
    assert sorted(added) == sorted(set(range(len(corpus))) - done_before)
    _assert_same(got, reference)


def test_an_unreachable_scheduler_is_one_config_error(corpus, tmp_path, monkeypatch):
    """Nothing listens at the address: one ConfigError line naming features.scheduler,
    after the connect timeout, not a hang."""
    import socket

    monkeypatch.setattr(dask_engine, "CONNECT_TIMEOUT_S", 1.0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free once closed
    start = time.monotonic()
    with pytest.raises(ConfigError, match=rf"^features\.scheduler: cannot reach the Dask "
                                          rf"scheduler at tcp://127\.0\.0\.1:{port} within 1 s"):
        _extract(corpus, _cfg(scheduler=f"tcp://127.0.0.1:{port}"), tmp_path)
    assert time.monotonic() - start < 30


def test_a_scheduler_without_workers_is_one_data_error(corpus, tmp_path, monkeypatch):
    """A scheduler no worker joins: one DataError line after the wait, not a hang."""
    monkeypatch.setattr(dask_engine, "WORKER_WAIT_S", 1.0)
    with distributed.LocalCluster(n_workers=0, processes=True, host="127.0.0.1",
                                  dashboard_address="127.0.0.1:0") as empty:
        with pytest.raises(DataError, match=r"^features\.scheduler: no Dask worker joined tcp://"):
            _extract(corpus, _cfg(scheduler=empty.scheduler_address), tmp_path)


def test_a_missing_scheduler_file_is_one_config_error(corpus, tmp_path):
    missing = tmp_path / "scheduler.json"
    with pytest.raises(ConfigError, match=r"^features\.scheduler: no scheduler file at "):
        _extract(corpus, _cfg(scheduler=str(missing)), tmp_path)


def test_engine_and_scheduler_do_not_change_the_store_key(corpus, tmp_path):
    """Switching engine or scheduler resumes the same work folder (as n_jobs and device)."""
    keys = {CorpusExtraction(corpus, cfg, tmp_path).store.key
            for cfg in (_cfg("local"), _cfg(), _cfg(scheduler="tcp://10.0.0.1:8786"))}
    assert len(keys) == 1


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        (dict(engine="spark"), r"^features\.engine: must be one of local, dask; got 'spark'"),
        (dict(engine="local", scheduler="tcp://h:8786"),
         r"^features\.scheduler: only meaningful with features\.engine=dask"),
        (dict(scheduler="h:8786"), r"^features\.scheduler: expected a scheduler address tcp://"),
        (dict(scheduler="http://h:8786"), r"^features\.scheduler: expected a scheduler address"),
        (dict(scheduler="tcp://h"), r"^features\.scheduler: expected a scheduler address"),
        (dict(scheduler="tcp://h:99999"), r"^features\.scheduler: port 99999 is outside 1\.\.65535"),
        (dict(scheduler="scheduler.yaml"), r"^features\.scheduler: expected a scheduler address"),
        (dict(device="cuda"), r"^features\.device: the dask engine runs on CPU workers"),
    ],
)
def test_engine_and_scheduler_are_validated(kw, message):
    with pytest.raises(ConfigError, match=message):
        _cfg(**kw).check()


@pytest.mark.parametrize("scheduler", [None, "tcp://127.0.0.1:8786", "tls://node-3.hpc.example:8786",
                                       "tcp://[::1]:8786", "/shared/dask/scheduler.json"])
def test_valid_schedulers_are_accepted(scheduler):
    _cfg(scheduler=scheduler).check()
