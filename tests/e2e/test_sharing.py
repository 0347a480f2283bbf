"""Sharing what a run makes, for real: the default DVC remote (a folder beside the
checkout), `make run` pushing and `make pull` restoring a fresh clone, `dvc exp push`/`pull`
between clones, the run-cache across A -> B -> A, and a two-task sweep as cluster/sweep.sbatch
runs it (docs/sharing.md, docs/cluster.md).

Tests in this file run in order: one first clone and a bare git repository as `origin`, all
folders beside each other, so the committed relative remote (../genrevae-dvc-remote) is
the same store for every clone.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from .conftest import BIN, ROOT, Project, build_project, clean_env, stages_run

pytestmark = pytest.mark.e2e

MODEL = "models/model.pt"
STAMP = ".venv/.installed"  # `make -o` it: the test runs make's recipes in this venv


def _make(project: Project, target: str) -> subprocess.CompletedProcess:
    # -o: take the venv stamp as up to date, so `setup` builds no .venv in the copy.
    return project.run("make", "-o", STAMP, target)


def _clone(share: Path, name: str) -> Project:
    p = Project(share / name, clean_env())
    subprocess.run(["git", "clone", "-q", str(share / "origin.git"), str(p.root)], check=True,
                   env=p.env)
    return p


def _mlflow_runs(root: Path) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    exp = client.get_experiment_by_name("genrevae")
    return [] if exp is None else client.search_runs([exp.experiment_id])


@pytest.fixture(scope="module")
def share(tmp_path_factory) -> Path:
    """The folder that holds origin.git, the clones and the default DVC remote."""
    return tmp_path_factory.mktemp("share")


@pytest.fixture(scope="module")
def first(share) -> Project:
    p = build_project(share / "genrevae")
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(share / "origin.git")],
                   check=True)
    p.git("remote", "add", "origin", str(share / "origin.git"))
    return p


def test_default_remote_is_a_folder_beside_the_checkout(first, share):
    listed = first.dvc("remote", "list").stdout.split()
    assert listed[:3] == ["shared", str(share / "genrevae-dvc-remote"), "(default)"]


def test_make_run_pushes_what_it_built(first, share):
    proc = _make(first, "run")
    assert stages_run(proc.stdout) >= {"prepare", "train", "evaluate"}
    remote = share / "genrevae-dvc-remote"
    assert (remote / "files" / "md5").is_dir() and (remote / "runs").is_dir()
    # Nothing left to push: the remote holds every output in dvc.lock.
    status = json.loads(first.dvc("status", "--cloud", "--json").stdout)
    assert status == {}
    first.git("add", "-A")
    first.git("commit", "-q", "-m", "make run")
    first.git("push", "-q", "origin", "main")


def test_fresh_clone_pulls_instead_of_recomputing(first, share):
    second = _clone(share, "second")
    assert not (second.root / MODEL).exists()
    _make(second, "pull")
    assert (second.root / MODEL).read_bytes() == (first.root / MODEL).read_bytes()
    for rel in ("metrics/eval.json", "plots/loss.csv", "data/latent/z.npy", "reports/eda.md"):
        assert (second.root / rel).read_bytes() == (first.root / rel).read_bytes(), rel
    proc = second.dvc("repro")
    assert stages_run(proc.stdout) == set()
    assert "Data and pipelines are up to date." in proc.stdout
    assert _mlflow_runs(second.root) == []  # nothing ran


def test_exp_push_and_pull_between_clones(first, share):
    first.dvc("exp", "run", "-n", "lat16", "-S", "latent_dim=16")
    pushed = first.dvc("exp", "push", "origin", "lat16")
    assert "lat16" in pushed.stdout
    second = Project(share / "second", clean_env())
    second.dvc("exp", "pull", "origin", "lat16")
    shown = json.loads(second.dvc("exp", "show", "--json").stdout)
    exps = {e["name"]: e for row in shown for e in (row.get("experiments") or [])}
    assert "lat16" in exps
    data = exps["lat16"]["revs"][0]["data"]
    assert data["params"]["params.yaml"]["data"]["latent_dim"] == 16
    assert "nmi" in data["metrics"]["metrics/headline.json"]["data"]
    # Its outputs came along: applied, the clone holds the experiment's model, no rerun.
    second.dvc("exp", "apply", "lat16")
    assert (second.root / MODEL).read_bytes() == (first.root / MODEL).read_bytes()
    assert stages_run(second.dvc("repro").stdout) == set()


def test_run_cache_restores_a_configuration_tried_before(first):
    """A (latent_dim=4, `make run`), B (lat16, above), A again: nothing trains twice."""
    proc = first.dvc("exp", "run", "-n", "again4", "-S", "latent_dim=4")
    for stage in ("train", "cluster", "evaluate"):
        assert f"Stage '{stage}' is cached - skipping run, checking out outputs" in proc.stdout, stage
    assert stages_run(proc.stdout) <= {"check"}  # check keeps a persistent output: no run-cache
    runs = _mlflow_runs(first.root)
    assert sorted(r.data.params["latent_dim"] for r in runs) == ["16", "4"]
    # The restored outputs are A's, and their record is A's run, found by its params.
    head = first.git("show", "main:metrics/headline.json").stdout
    assert json.loads((first.root / "metrics/headline.json").read_text()) == json.loads(head)
    found = first.run(str(BIN / "genrevae"), "run-of").stdout.splitlines()
    a_run = next(r for r in runs if r.data.params["latent_dim"] == "4")
    assert len(found) == 1 and found[0].split()[0] == a_run.info.run_id


def test_two_sweep_tasks_push_and_a_third_clone_reads_them(first, share):
    """cluster/sweep_task.sh as two SLURM array tasks would run it (without SLURM): separate
    processes, each cloning origin, against one git and one DVC remote."""
    grid = share / "grid.txt"
    grid.write_text("# name overrides\nsw8   latent_dim=8\n\nsw2   latent_dim=2 train.epochs=2\n")
    env = {**clean_env(), "SWEEP_REPO": str(share / "origin.git"),
           "SWEEP_DVC_REMOTE": str(share / "genrevae-dvc-remote"), "SWEEP_GRID": str(grid),
           "SWEEP_WORK": str(share), "SLURM_ARRAY_JOB_ID": "77"}
    script = ROOT / "cluster" / "sweep_task.sh"
    logs = [(share / f"task{i}.log").open("w") for i in (0, 1)]
    procs = [subprocess.Popen(["bash", str(script)], env={**env, "SLURM_ARRAY_TASK_ID": str(i)},
                              stdout=logs[i], stderr=subprocess.STDOUT, cwd=share)
             for i in (0, 1)]
    for i, proc in enumerate(procs):
        rc = proc.wait(timeout=900)
        logs[i].close()
        assert rc == 0, (share / f"task{i}.log").read_text()[-4000:]
    assert not list(share.glob("genrevae-sweep-77-*"))  # the scratch clones are gone

    third = _clone(share, "third")
    third.dvc("exp", "pull", "origin")
    shown = json.loads(third.dvc("exp", "show", "--json").stdout)
    exps = {e["name"]: e["revs"][0]["data"] for row in shown for e in (row.get("experiments") or [])}
    assert {"sw8", "sw2"} <= set(exps)
    assert exps["sw8"]["params"]["params.yaml"]["data"]["latent_dim"] == 8
    assert exps["sw2"]["params"]["params.yaml"]["data"]["train"]["epochs"] == 2
    table = third.dvc("exp", "show", "--no-pager", "--csv").stdout
    assert "sw8" in table and "sw2" in table

    # A bad grid point stops in one line naming it.
    proc = subprocess.run(["bash", str(script)], env={**env, "SLURM_ARRAY_TASK_ID": "5"},
                          capture_output=True, text=True, cwd=share)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == f"error: {grid} has no grid point 5 (it has 2)"
    assert not (share / "genrevae-sweep-77-5").exists()  # its clone removed

