"""A temporary git clone of the working tree composing experiment=tiny, for running the real
`dvc repro` / `dvc exp run` and MLflow against it."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

# The copy's conf/config.yaml picks this preset by default (instead of none), so every
# `dvc exp run` in these tests composes the small configuration the unit tests use.
TINY = "tiny"


@dataclass
class Project:
    root: Path
    env: dict[str, str]

    def run(self, *args: str, check: bool = True, timeout: float = 600,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            list(args), cwd=self.root, env={**self.env, **(env or {})}, capture_output=True,
            text=True, timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} exited {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}"
                f"\n--- stderr\n{proc.stderr[-4000:]}"
            )
        return proc

    def dvc(self, *args: str, **kw) -> subprocess.CompletedProcess:
        return self.run(str(BIN / "dvc"), *args, **kw)

    def git(self, *args: str) -> subprocess.CompletedProcess:
        return self.run("git", *args)


def stages_run(output: str) -> set[str]:
    """Names of the stages a dvc command executed, from its output."""
    return {line.split("'")[1] for line in output.splitlines()
            if line.startswith("Running stage '")}


def _tracked_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout
    return [f for f in out.split("\0") if f and (ROOT / f).is_file()]


def _default_to_tiny(conf: Path) -> None:
    """Make experiment=tiny (conf/experiment/tiny.yaml) the copy's default preset."""
    config = conf / "config.yaml"
    text = config.read_text()
    assert "  - experiment: null\n" in text, "conf/config.yaml no longer names the preset slot"
    config.write_text(text.replace("  - experiment: null\n", f"  - experiment: {TINY}\n"))


@pytest.fixture(scope="session")
def project(tmp_path_factory) -> Project:
    """The working tree (tracked and untracked-not-ignored files) in a fresh git repo,
    composing experiment=tiny by default, params.yaml recomposed and committed."""
    return build_project(tmp_path_factory.mktemp("clone") / "genrevae")


def clean_env() -> dict[str, str]:
    """The environment for the commands run in a copied project: this venv first, no
    MLFLOW_/DVC_/GIT_ settings of the caller, a git identity."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLFLOW_", "DVC_", "GIT_"))}
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", DVC_NO_ANALYTICS="1",
               PYTHONUNBUFFERED="1", GIT_AUTHOR_NAME="genrevae tests",
               GIT_AUTHOR_EMAIL="tests@genrevae.invalid", GIT_COMMITTER_NAME="genrevae tests",
               GIT_COMMITTER_EMAIL="tests@genrevae.invalid")
    return env


def build_project(root: Path) -> Project:
    """The copy that `project` is, at ``root`` (whose parent must exist)."""
    for rel in _tracked_files():
        dest = root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dest)
    _default_to_tiny(root / "conf")
    # The committed dvc.lock records the default corpus's outputs, which this tiny copy never
    # has: a `dvc queue` experiment that restores a stage from the run-cache would look for
    # their objects (as in any clone that has not pulled; docs/sharing.md).
    (root / "dvc.lock").unlink(missing_ok=True)
    p = Project(root, clean_env())
    p.run(str(BIN / "genrevae"), "params")
    p.git("init", "-q", "-b", "main")
    p.git("config", "user.name", "genrevae tests")
    p.git("config", "user.email", "tests@genrevae.invalid")
    p.git("add", "-A")
    p.git("commit", "-q", "-m", "tiny genrevae")
    p.run("make", "--no-print-directory", ".dvc/config.local")  # as `make setup` does
    return p


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_mlflow_server(home: Path, store_uri: str) -> Iterator[str]:
    """A real `mlflow server` on a free loopback port, in its own process group; yields its
    URL and stops it (the whole group) on exit."""
    import signal
    import urllib.request

    port = free_port()
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    log = (home / "server.log").open("w")
    proc = subprocess.Popen(
        [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--backend-store-uri", store_uri,
         "--artifacts-destination", str(home / "artifacts")],
        cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server did not start:\n{(home / 'server.log').read_text()}")
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """A real `mlflow server` with a store of its own."""
    home = tmp_path_factory.mktemp("mlflow-server")
    with running_mlflow_server(home, f"sqlite:///{home}/store.db") as url:
        yield url


# Debian's Chromium, headless, as this machine's closed network needs it (no background
# connections, no first-run work), with a fresh profile each time.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--virtual-time-budget=20000")


def chromium() -> str:
    """The chromium binary, or a skip saying how to get it."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it: apt-get install "
                    "chromium)")
    return binary


def browse(url: str, folder: Path, *, window: str = "1600,1000") -> tuple[str, Path]:
    """Load ``url`` in headless Chromium: the DOM after its scripts ran, and a screenshot."""
    binary = chromium()
    shot = folder / "page.png"
    outputs = []
    for i, action in enumerate(("--dump-dom", f"--screenshot={shot}")):
        proc = subprocess.run([binary, *CHROMIUM_FLAGS, f"--window-size={window}",
                               f"--user-data-dir={folder / f'profile{i}'}", action, url],
                              capture_output=True, text=True, timeout=180)
        outputs.append(proc.stdout)
    return outputs[0], shot
