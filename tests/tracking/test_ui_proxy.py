"""The proxy in front of `genrevae ui`'s MLflow: a stand-in backend (a real HTTP server on
loopback) shows what passes through unchanged and what the root page gains."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from genrevae.tracking.ui_proxy import ProxyServer, inject, root_script

PAGE = b"<!doctype html><html><head><title>MLflow</title></head><body></body></html>"


class _Backend(BaseHTTPRequestHandler):
    """Answers / with PAGE, /stream with a chunked body, anything else with what it got."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/":
            self._send(200, PAGE, [("Content-Type", "text/html"), ("ETag", '"x"')])
        elif self.path == "/stream":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"one ", b"two"):
                self.wfile.write(b"%X\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self._echo()

    def do_POST(self) -> None:
        self._echo()

    def _echo(self) -> None:
        if self.headers.get("Transfer-Encoding") == "chunked":
            body = b""
            while size := int(self.rfile.readline(), 16):
                body += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()  # the line ending the chunks
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        answer = json.dumps({"method": self.command, "path": self.path,
                             "host": self.headers["Host"], "body": body.decode()}).encode()
        self._send(201, answer, [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])

    def _send(self, status, body, headers) -> None:
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def proxy():
    backend = ThreadingHTTPServer(("127.0.0.1", 0), _Backend)
    # The process the proxy watches: alive for the test, as MLflow would be.
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    server = ProxyServer(("127.0.0.1", 0), backend.server_address[:2],
                         lambda: "/#/experiments/7/runs?workflowType=machine_learning")
    server.child = child
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (backend, server)]
    for t in threads:
        t.start()
    yield server.server_address[1]
    for s in (server, backend):
        s.shutdown()
        s.server_close()
    child.kill()
    child.wait()


def _get(port: int, method: str, path: str, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(method, path, body=body, headers=headers or {})
    answer = conn.getresponse()
    return answer, answer.read()


def test_root_page_picks_model_training_and_lands_on_the_runs_table(proxy) -> None:
    answer, page = _get(proxy, "GET", "/", headers={"Accept-Encoding": "gzip",
                                                    "If-None-Match": '"x"'})
    assert answer.status == 200 and answer.getheader("Cache-Control") == "no-store"
    assert answer.getheader("ETag") is None  # the page is not MLflow's any more
    script = root_script("/#/experiments/7/runs?workflowType=machine_learning")
    assert page == inject(PAGE, script) and page.index(script) < page.index(b"<title>")
    assert b'localStorage.setItem("mlflow.workflowType_v1","\\"machine_learning\\"")' in page
    assert b'location.replace("/#/experiments/7/runs?workflowType=machine_learning")' in page


def test_everything_else_passes_through(proxy) -> None:
    answer, body = _get(proxy, "POST", "/ajax-api/2.0/mlflow/runs/search?x=1", b'{"a": 1}',
                        {"Content-Type": "application/json", "Host": "localhost:5000"})
    assert answer.status == 201
    assert json.loads(body) == {"method": "POST", "path": "/ajax-api/2.0/mlflow/runs/search?x=1",
                                "host": "localhost:5000", "body": '{"a": 1}'}
    assert answer.msg.get_all("Set-Cookie") == ["a=1", "b=2"]
    answer, body = _get(proxy, "POST", "/upload", iter([b"chunk one, ", b"chunk two"]))
    assert json.loads(body)["body"] == "chunk one, chunk two"  # sent on chunked, arrives whole
    answer, body = _get(proxy, "GET", "/stream")
    assert (answer.status, body) == (200, b"one two")


def test_no_landing_without_an_experiment() -> None:
    script = root_script(None)
    assert b"localStorage" in script and b"location.replace" not in script
    assert b"<\\/script>" in root_script("/#/</script>")  # cannot end the script early


def test_mlflow_gone_is_a_502() -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    server = ProxyServer(("127.0.0.1", 0), ("127.0.0.1", 9), lambda: None)
    server.child = dead
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        answer, body = _get(server.server_address[1], "GET", "/health")
    finally:
        server.shutdown()
        server.server_close()
    assert answer.status == 502 and body.startswith(b"no answer from MLflow's UI")
