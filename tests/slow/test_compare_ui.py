"""`genrevae ui`: a real MLflow server on a loopback port (the slow part of
tests/tracking/test_compare.py, whose store of logged runs it uses)."""

from __future__ import annotations

from tests.tracking import test_compare

store = test_compare.store  # the fixture, made this module's


def test_ui_prints_the_headline_view_and_serves_it(store) -> None:
    """`genrevae ui` prints the runs-view address of the project's experiment, then a real
    MLflow UI answers on that port."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "genrevae.cli", "ui", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    try:
        printed = [proc.stdout.readline(), proc.stdout.readline()]
        assert printed[0].startswith("runs of 'genrevae'")
        assert printed[1].strip() == (f"http://127.0.0.1:{port}/#/experiments/1/runs"
                                      "?workflowType=machine_learning&viewStateShareKey=headline")
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.5)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
