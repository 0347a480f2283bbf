"""The small HTTP server `genrevae ui` puts in front of MLflow's UI.

MLflow 3.17's UI opens every page in its GenAI workflow unless the browser has chosen
"Model training" (a ``localStorage`` entry, ``mlflow.workflowType_v1``; the URL parameter
``workflowType`` only holds for the page it is on), and its root page is a GenAI welcome
page. The server has no setting for either, so this proxy changes one thing: the HTML of
the root page, into which it writes a script that picks "Model training" and, when no page
is asked for (``/``, ``/#/``), goes to the project's runs table. Everything else passes
through unchanged, bodies streamed both ways; the Host header too, so MLflow's own checks
against DNS rebinding and cross-origin requests still apply to what the browser sent.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import BinaryIO

# Headers of one connection, not of the message (RFC 9110 7.6.1): never forwarded.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                        "proxy-connection", "te", "trailer", "trailers", "transfer-encoding",
                        "upgrade"})
# Where MLflow 3.17's UI keeps the workflow switch, and the value of "Model training".
WORKFLOW_KEY, MODEL_TRAINING = "mlflow.workflowType_v1", "machine_learning"
START_WAIT_S = 120  # how long a request waits for MLflow to start listening
ANSWER_WAIT_S = 600  # a slow search over a large store is still an answer
BLOCK = 64 * 1024


def root_script(landing: str | None) -> bytes:
    """The script written into the root page: "Model training", and ``landing`` (an
    address such as ``/#/experiments/1/runs?...``) when the page asks for no route."""
    lines = [f"try{{localStorage.setItem({json.dumps(WORKFLOW_KEY)},"
             f"{json.dumps(json.dumps(MODEL_TRAINING))})}}catch(e){{}}"]
    if landing is not None:
        # "</" would end the script element early, whatever the JSON around it.
        target = json.dumps(landing).replace("</", "<\\/")
        lines.append('if(["","#","#/"].indexOf(location.hash)>=0)'
                     f"location.replace({target});")
    return ("<script>" + "\n".join(lines) + "</script>").encode()


def inject(page: bytes, script: bytes) -> bytes:
    """``page`` with ``script`` first in its head, so it runs before the UI's own scripts."""
    head = re.search(rb"<head[^>]*>", page, re.IGNORECASE)
    at = head.end() if head else 0
    return page[:at] + script + page[at:]


class ProxyServer(ThreadingHTTPServer):
    """Forwards to MLflow at ``backend`` (host, port); ``landing`` gives the root page's
    target (None: leave the root page where it is). Set :attr:`child` to the MLflow process
    before serving: requests wait for it to listen while it runs."""

    daemon_threads = True
    child: subprocess.Popen

    def __init__(self, address: tuple[str, int], backend: tuple[str, int],
                 landing: Callable[[], str | None]) -> None:
        self.address_family = socket.getaddrinfo(address[0], address[1],
                                                 type=socket.SOCK_STREAM)[0][0]
        self.backend, self.landing = backend, landing
        super().__init__(address, _Handler)

    def handle_error(self, request, client_address) -> None:
        """A browser that closed its connection mid-answer is no error worth a traceback."""
        import sys

        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the UI's many small requests expect
    server: ProxyServer

    def log_message(self, format: str, *args) -> None:
        pass  # MLflow logs each request itself

    def do_GET(self) -> None:
        self._forward()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _forward(self) -> None:
        root = self.command == "GET" and self.path.split("?")[0] == "/"
        # Expect: 100-continue is answered here already (BaseHTTPRequestHandler).
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in HOP_BY_HOP | {"expect"}}
        if root:  # the page is rewritten: asked for whole, plain and fresh
            headers = {k: v for k, v in headers.items() if k.lower() not in
                       ("accept-encoding", "if-none-match", "if-modified-since", "range")}
        try:
            conn = self._connect()
        except OSError as exc:
            self._refuse(502, f"no answer from MLflow's UI ({exc})")
            return
        self.answered = False
        try:
            conn.request(self.command, self.path, body=self._body(), headers=headers)
            answer = conn.getresponse()
            if root and answer.status == 200:
                self._send_page(answer)
            else:
                self._send_stream(answer)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            if self.answered:  # mid-answer: all the browser can be told is that it broke
                self.close_connection = True
                return
            self._refuse(502, f"no answer from MLflow's UI ({exc})")
        finally:
            conn.close()

    def _connect(self) -> http.client.HTTPConnection:
        """A connection to MLflow, waiting while it starts (not once it has ended)."""
        deadline = time.monotonic() + START_WAIT_S
        while True:
            conn = http.client.HTTPConnection(*self.server.backend, timeout=ANSWER_WAIT_S)
            try:
                conn.connect()
                return conn
            except ConnectionRefusedError:
                conn.close()
                if self.server.child.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.25)

    def _body(self) -> Iterator[bytes] | None:
        """The request body as it arrives: by Content-Length, or chunked (then sent on
        chunked, http.client adding the header)."""
        length = self.headers.get("Content-Length")
        if length is not None:
            return _exactly(self.rfile, int(length))
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return _dechunked(self.rfile)
        return None

    def _send_page(self, answer: http.client.HTTPResponse) -> None:
        page = inject(answer.read(), root_script(self.server.landing()))
        self.answered = True
        self.send_response_only(answer.status, answer.reason)
        for key, value in answer.getheaders():
            if key.lower() not in HOP_BY_HOP | {"content-length", "etag", "last-modified",
                                                "cache-control", "content-encoding"}:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(page)))
        self.send_header("Cache-Control", "no-store")  # never kept without the script
        self.end_headers()
        self.wfile.write(page)

    def _send_stream(self, answer: http.client.HTTPResponse) -> None:
        no_body = (self.command == "HEAD" or answer.status in (204, 304)
                   or answer.status < 200)
        chunked = not no_body and answer.getheader("Content-Length") is None
        self.answered = True
        self.send_response_only(answer.status, answer.reason)
        for key, value in answer.getheaders():
            if key.lower() not in HOP_BY_HOP:
                self.send_header(key, value)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if no_body:
            return
        while block := answer.read1(BLOCK):
            self.wfile.write(b"%X\r\n%s\r\n" % (len(block), block) if chunked else block)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def _refuse(self, status: int, message: str) -> None:
        body = (message + "\n").encode()
        self.send_response_only(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True


def _exactly(rfile: BinaryIO, n: int) -> Iterator[bytes]:
    while n > 0:
        block = rfile.read(min(n, BLOCK))
        if not block:
            raise ValueError("the request body ended early")
        n -= len(block)
        yield block


def _dechunked(rfile: BinaryIO) -> Iterator[bytes]:
    while True:
        size = int(rfile.readline().split(b";")[0].strip(), 16)
        if size == 0:
            while rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers: none that MLflow reads
            return
        yield from _exactly(rfile, size)
        rfile.readline()
