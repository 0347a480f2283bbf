"""`genrevae ui` in a real headless browser: a newcomer who opens the UI's root page, or
the experiment's link, lands on the runs table, not on MLflow 3's GenAI pages (the UI's
default until the browser picks "Model training")."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from genrevae.tracking import EXPERIMENT_KIND, mlflow_client
from tests.e2e.conftest import browse, chromium, free_port
from tests.tracking import test_compare

store = test_compare.store  # the fixture (runs small, big, mid), made this module's

# What only the runs table shows, and what only the GenAI pages do (their welcome page and
# an experiment's overview of traces).
RUNS_TABLE = ('data-testid="sort-header-Run Name"', "matching run")
GENAI = ("Welcome to MLflow", "Getting Started", ">Overview<", "Detect Issues")


def _serving(proc: subprocess.Popen, port: int) -> int:
    """Wait until `genrevae ui` answers on ``port``; the port of MLflow behind it."""
    lines = [proc.stdout.readline() for _ in range(3)]
    inner = re.search(r"MLflow's own server at 127\.0\.0\.1:(\d+)", lines[2])
    assert inner, lines
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                assert r.status == 200
                return int(inner.group(1))
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.5)


def _listen_addresses(port: int) -> set[str]:
    """The addresses a TCP socket listens on at ``port`` (Linux's /proc/net/tcp, hex)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for row in f.read().splitlines()[1:]:
                local, state = row.split()[1], row.split()[3]
                address, _, hex_port = local.partition(":")
                if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                    found.add(address)
    return found


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _assert_runs_table(dom: str, where: str) -> None:
    for marker in RUNS_TABLE:
        assert marker in dom, (where, marker)
    for name in ("small", "big", "mid"):
        assert f">{name}<" in dom, (where, name)
    for marker in GENAI:
        assert marker not in dom, (where, marker)


def test_root_page_and_experiment_link_open_the_runs_table(store, tmp_path) -> None:
    """Chromium, a fresh profile each time (as a first visit), on `genrevae ui` over a
    store whose experiment lost its kind tag: the tag is back once the UI runs; the root
    page and the experiment's link (as the page shows it) both show the runs table; the
    MLflow server behind the UI binds loopback only and ends with `genrevae ui`."""
    chromium()  # a skip, not a failure, without a browser
    client = mlflow_client(os.environ["MLFLOW_TRACKING_URI"])
    exp = client.get_experiment_by_name("genrevae")
    client.delete_experiment_tag(exp.experiment_id, EXPERIMENT_KIND[0])
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "genrevae.cli", "ui", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    try:
        inner = _serving(proc, port)
        tag = client.get_experiment(exp.experiment_id).tags.get(EXPERIMENT_KIND[0])
        assert tag == EXPERIMENT_KIND[1] == "custom_model_development"
        loopback = {"0100007F"}  # 127.0.0.1, as /proc/net/tcp writes it
        assert _listen_addresses(inner) == loopback and _listen_addresses(port) == loopback
        for folder in ("root", "link"):
            (tmp_path / folder).mkdir()
        root, _ = browse(f"http://127.0.0.1:{port}/", tmp_path / "root")
        _assert_runs_table(root, "root page")
        link = re.search(r'<a data-testid="experiment-link" href="([^"]+)"', root)
        assert link and link.group(1) == f"#/experiments/{exp.experiment_id}", link
        linked, shot = browse(f"http://127.0.0.1:{port}/{link.group(1)}", tmp_path / "link")
        _assert_runs_table(linked, "experiment link")
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    assert not _listening(port) and not _listening(inner)
