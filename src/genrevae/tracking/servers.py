"""The commands that start a server on this machine, bound to 127.0.0.1 unless told
otherwise: `genrevae ui` (MLflow's UI on the project's tracking store, opened on the runs
table) and `genrevae serve` (the registered model over HTTP, through MLflow's scoring
server). Each checks what it can first; `serve` then hands its process over
(``os.execve``), `ui` runs MLflow's UI behind a small proxy (:mod:`.ui_proxy`) until
stopped."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from genrevae.errors import GenreVAEError


def _mlflow_command() -> str:
    """This interpreter's ``mlflow`` (the venv's, activated or not), else the one on PATH."""
    import shutil

    beside = Path(sys.executable).with_name("mlflow")
    found = str(beside) if beside.is_file() else shutil.which("mlflow")
    if found is None:
        raise GenreVAEError("the mlflow command is not on PATH (activate .venv)")
    return found


def ui(host: str, port: int) -> None:
    """`genrevae ui`: print the runs page's address, then serve MLflow's UI on the
    project's store at ``host:port`` until stopped (a UI of this store already on the port
    is only pointed at). MLflow itself listens on a loopback port of its own, behind
    :mod:`genrevae.tracking.ui_proxy`, which opens the UI on the runs table."""
    from genrevae import tracking

    uri = tracking.tracking_uri()
    base = f"http://{host}:{port}"
    try:
        client = tracking.mlflow_client(uri)
        found = client.get_experiment_by_name(tracking.EXPERIMENT)
    except Exception as exc:  # an unreadable store: mlflow ui will say more
        raise tracking.tracking_error(uri, exc) from exc
    if found is not None:
        _mark_model_training(client, found)
    if _port_taken(host, port):
        # Only a UI that shows this very experiment (same id, creation time and artifact
        # folder) is taken for ours; anything else there would be sent as our address.
        if found is None:  # nothing to recognise our UI by
            raise GenreVAEError(f"--port {port}: {host}:{port} is in use; "
                                "choose another port with --port")
        if _served_experiment(host, port) != _identity(found):
            raise GenreVAEError(f"--port {port}: {host}:{port} is in use by "
                                f"another program (not the MLflow UI of {uri}); choose "
                                "another port with --port")
        print(f"the MLflow UI of {uri} is already running; runs of {tracking.EXPERIMENT!r}, "
              f"headline columns first:\n  {tracking.runs_page_url(base, found.experiment_id)}")
        return
    if found is None:
        print(f"no runs yet in {uri} (run the pipeline first); the UI is at {base}")
    else:
        print(f"runs of {tracking.EXPERIMENT!r}, headline columns first:\n  "
              f"{tracking.runs_page_url(base, found.experiment_id)}", flush=True)
    _serve_ui(host, port, uri, None if found is None else found.experiment_id)


def _mark_model_training(client, experiment) -> None:
    """Tag an experiment made before the tag was (see tracking.EXPERIMENT_KIND); a store
    that cannot be written to still gets its UI."""
    from genrevae import tracking

    try:
        tracking.mark_model_training(client, experiment)
    except Exception as exc:  # a read-only store: the UI only reads
        print(f"warning: {tracking.tracking_error(tracking.tracking_uri(), exc)}",
              file=sys.stderr)


def _serve_ui(host: str, port: int, uri: str, experiment_id: str | None) -> None:
    """MLflow's UI on a free loopback port (its own process group, so that it ends with
    this command, whichever signal ends that), behind the proxy on ``host:port``."""
    import signal
    import subprocess
    import threading

    from genrevae import tracking
    from genrevae.tracking.ui_proxy import ProxyServer

    found_id = [experiment_id]

    def landing() -> str | None:
        if found_id[0] is None:  # the pipeline may log its first run while the UI is up
            try:
                exp = tracking.mlflow_client(uri).get_experiment_by_name(tracking.EXPERIMENT)
            except Exception:  # the root page is served regardless; the next one retries
                return None
            found_id[0] = None if exp is None else exp.experiment_id
        return None if found_id[0] is None else tracking.runs_page_url("", found_id[0])

    inner = _free_loopback_port()
    mlflow = _mlflow_command()
    # The UI's job runner is for GenAI features this project does not use.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    try:
        proxy = ProxyServer((host, port), ("127.0.0.1", inner), landing)
    except OSError as exc:
        raise GenreVAEError(f"--host {host} --port {port}: cannot listen there ({exc.strerror})"
                            ) from exc
    child = subprocess.Popen([mlflow, "ui", "--backend-store-uri", uri, "--host", "127.0.0.1",
                              "--port", str(inner), "--workers", "1"], env=env,
                             start_new_session=True)
    proxy.child = child
    print(f"serving on {host}:{port} (MLflow's own server at 127.0.0.1:{inner} sits behind "
          "it; Ctrl-C stops both)", flush=True)

    def stop(signum, frame) -> None:
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)
    # MLflow ending on its own (a store it cannot open, say) ends the proxy too.
    threading.Thread(target=lambda: (child.wait(), proxy.shutdown()), daemon=True).start()
    try:
        proxy.serve_forever()
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    finally:
        proxy.server_close()
        _stop_group(child)
    if child.returncode:
        raise GenreVAEError(f"mlflow ui ended with status {child.returncode}")


def _free_loopback_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop_group(child) -> None:
    """End ``child`` and what it started (uvicorn runs under the mlflow command)."""
    import signal
    import subprocess

    if child.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGTERM)
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    with contextlib.suppress(ProcessLookupError):  # its workers, if the mlflow command left
        os.killpg(child.pid, signal.SIGKILL)


def _port_taken(host: str, port: int) -> bool:
    """Whether a server listens on ``host:port`` (a bind as the UI's server makes fails)."""
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except OSError as exc:
        raise GenreVAEError(f"--host {host}: not an address of this machine ({exc})") from exc
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
        try:
            sock.bind(address)
        except OSError as exc:
            import errno

            if exc.errno == errno.EADDRINUSE:
                return True
            raise GenreVAEError(f"--host {host} --port {port}: cannot listen there ({exc.strerror})"
                                ) from exc
    return False


def _identity(experiment) -> tuple:
    return (str(experiment.experiment_id), int(experiment.creation_time or 0),
            str(experiment.artifact_location))


def _served_experiment(host: str, port: int) -> tuple | None:
    """The identity of experiment ``genrevae`` as the MLflow server at ``host:port`` shows
    it, or None when what listens there does not answer as one."""
    import json
    import urllib.parse
    import urllib.request

    from genrevae import tracking

    near = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    near = f"[{near}]" if ":" in near else near
    query = urllib.parse.urlencode({"experiment_name": tracking.EXPERIMENT})
    url = f"http://{near}:{port}/api/2.0/mlflow/experiments/get-by-name?{query}"
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            exp = json.loads(answer.read())["experiment"]
        return (str(exp["experiment_id"]), int(exp.get("creation_time") or 0),
                str(exp["artifact_location"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def serve(model: str, host: str, port: int, max_mb: float | None) -> None:
    """`genrevae serve`: check the model's files against the store, then become
    `mlflow models serve --env-manager local` on it."""
    import logging

    from genrevae import tracking
    from genrevae.serving.bundle import describe, synthetic_warning
    from genrevae.serving.payload import MAX_MB_ENV
    from genrevae.tracking.registry import is_uri, open_model

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not is_uri(model):
        raise GenreVAEError(f"--model {model!r}: expected models:/... or runs:/...")
    # Checked here first, so a tampered or missing model is one line, not a server traceback.
    _, info = open_model(model)
    print(describe(info), flush=True)
    if (warning := synthetic_warning(info)) is not None:
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    mlflow = _mlflow_command()
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking.tracking_uri(),
           "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    if max_mb is not None:
        env[MAX_MB_ENV] = str(max_mb)
    os.execve(mlflow, [mlflow, "models", "serve", "-m", model, "--env-manager", "local",
                       "-h", host, "-p", str(port), "-w", "1"], env)
