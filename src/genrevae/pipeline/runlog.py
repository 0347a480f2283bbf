"""What the stages of a pipeline execution record in the workspace, in ``.genrevae/``
(gitignored, never a DVC output, so it makes nothing rerun):

- ``stage_times.json``: when each stage started and ended, and how; the MLflow run's start
  time is read from it (:func:`pipeline_started`);
- ``pipeline.json``: which ``dvc`` process is running the pipeline and the digest of the
  params file its stages read. A stage of another live ``dvc`` process, or one that finds
  the params file changed under its own pipeline, is refused (:func:`claim_params`): two
  ``dvc exp run`` at once in one workspace overwrite each other's ``params.yaml``.

A stage started by hand (no ``dvc`` among its parents) records its times but claims nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from genrevae.errors import ConcurrentRunError

log = logging.getLogger(__name__)

FOLDER = Path(".genrevae")
STAGE_TIMES = FOLDER / "stage_times.json"
PIPELINE = FOLDER / "pipeline.json"
KEEP = 100  # stage entries kept


def _read(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return default


def _write(path: Path, payload: Any) -> None:
    """A hint, not an artifact: a failure to write it is only logged."""
    try:
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(payload), encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        log.debug("cannot record %s: %s", path, exc)


def _entries() -> list[dict]:
    entries = _read(STAGE_TIMES, [])
    if not isinstance(entries, list):
        return []
    return [e for e in entries if isinstance(e, dict) and isinstance(e.get("start"), int | float)]


def record_start(stage: str) -> None:
    entry: dict[str, Any] = {"stage": stage, "start": time.time()}
    runner = dvc_runner()
    if runner is not None:  # the dvc process this stage belongs to: see pipeline_started
        entry["runner"] = list(runner)
    _write(STAGE_TIMES, [*_entries(), entry][-KEEP:])


def record_end(stage: str, status: str) -> None:
    entries = _entries()
    for entry in reversed(entries):
        if entry.get("stage") == stage:
            entry.update(end=time.time(), status=status)
            break
    _write(STAGE_TIMES, entries)


def pipeline_started(stage: str = "evaluate") -> float:
    """When this pipeline execution began. Under ``dvc``: the start of the first stage the
    same dvc process ran (a stage that runs after ``stage`` in the previous pipeline, such
    as ``eda``, must not count). Run by hand: the start of the first stage that ran since
    the last successful ``stage`` (the one asking; its own current entry is the newest).
    Falls back to now."""
    entries = _entries()
    asking = entries[-1] if entries and entries[-1].get("stage") == stage else None
    if asking is not None and asking.get("runner"):
        mine = [float(e["start"]) for e in entries if e.get("runner") == asking["runner"]]
        return min(mine)
    if asking is not None:
        entries = entries[:-1]
    first = time.time()
    for entry in reversed(entries):
        if entry.get("stage") == stage and entry.get("status") == "ok":
            break
        first = min(first, float(entry["start"]))
    return first


def _proc(pid: int) -> tuple[list[str], int, int] | None:
    """argv, parent pid and start time (clock ticks since boot) of a process, from /proc."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return argv, int(fields[1]), int(fields[19])


def _is_dvc(argv: list[str]) -> bool:
    head = [a for a in argv[:3] if a]
    return any(Path(a).name == "dvc" for a in head) or ["-m", "dvc"] == head[1:3]


def exp_run_overrides(argv: list[str]) -> list[str] | None:
    """The ``-S``/``--set-param`` values of a ``dvc exp run`` command line, or None for any
    other dvc command (``dvc repro`` runs params.yaml as it is)."""
    words = [a for a in argv if a]
    if "exp" not in words or "run" not in words[words.index("exp"):]:
        return None
    out, it = [], iter(words)
    for word in it:
        if word in ("-S", "--set-param"):
            out.append(next(it, ""))
        elif word.startswith("--set-param="):
            out.append(word.split("=", 1)[1])
        elif word.startswith("-S") and len(word) > 2:
            out.append(word[2:])
    return out


def _composed_as_asked(params: Path, argv: list[str]) -> bool | None:
    """Whether ``params`` is what this ``dvc exp run`` composed from conf/ and its -S
    values (another process may have rewritten it before any stage read it); None when
    that cannot be said (not an exp run, no conf/, or the composition itself fails)."""
    overrides = exp_run_overrides(argv)
    if overrides is None or not Path("conf", "config.yaml").is_file():
        return None
    import tempfile

    import yaml

    from genrevae.config.compose import compose_params

    with tempfile.TemporaryDirectory() as tmp:
        try:
            mine = compose_params(overrides, conf_dir="conf", output=Path(tmp) / "params.yaml")
        except Exception:  # an invalid -S: the stage's own validation says which key
            return None
        # Compare values: DVC and `genrevae params` write null differently.
        return yaml.safe_load(mine.read_text()) == yaml.safe_load(params.read_text())


def dvc_runner(pid: int | None = None) -> tuple[int, int] | None:
    """(pid, start time) of the ``dvc`` process among this process's parents, or None (a
    stage run by hand, or no /proc)."""
    pid = os.getppid() if pid is None else pid
    for _ in range(8):
        info = _proc(pid)
        if info is None:
            return None
        argv, parent, started = info
        if _is_dvc(argv):
            return pid, started
        if parent <= 1:
            return None
        pid = parent
    return None


def _alive(runner: list | tuple) -> bool:
    info = _proc(int(runner[0]))
    return info is not None and info[2] == int(runner[1])


def params_digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


QUEUE_HINT = ("run experiments one after another with `dvc exp run --queue ...` and "
              "`dvc queue start`")


def claim_params(stage: str, params: str | Path, runner: tuple[int, int] | None = None) -> None:
    """Refuse to run when another ``dvc`` pipeline is live in this workspace, when one tried
    to start while this pipeline ran (it has rewritten params.yaml, maybe before this
    pipeline's first stage read it), or when the params file differs from what earlier
    stages of this pipeline read; else record this stage's claim. A stage run by hand
    (no ``dvc`` among its parents) is not checked."""
    import fcntl

    runner = dvc_runner() if runner is None else runner
    if runner is None:
        return
    me = list(runner)
    digest = params_digest(params)
    FOLDER.mkdir(exist_ok=True)
    with (FOLDER / "pipeline.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two stages claiming at once see each other
        held = _read(PIPELINE, {})
        held = held if isinstance(held, dict) else {}
        owner = held.get("runner")
        if owner and owner != me and _alive(owner):
            _write(PIPELINE, {**held, "contested": me})
            raise ConcurrentRunError(
                f"another pipeline (dvc, pid {owner[0]}) is running in this workspace, and "
                f"this one has just rewritten {params} under it; {QUEUE_HINT}")
        if owner == me and held.get("contested"):
            raise ConcurrentRunError(
                f"another dvc process (pid {held['contested'][0]}) started in this workspace "
                f"while this pipeline ran, so {params} may hold its values; {QUEUE_HINT}")
        if owner == me and held.get("params") != digest:
            raise ConcurrentRunError(
                f"{params} changed while this pipeline ran (stage {held.get('stage')} read "
                f"another version): another `dvc exp run` or an edit in this workspace; "
                f"{QUEUE_HINT}")
        if owner != me:  # this pipeline's first stage: is params.yaml what it composed?
            info = _proc(runner[0])
            if info is not None and _composed_as_asked(Path(params), info[0]) is False:
                raise ConcurrentRunError(
                    f"{params} is not what this `dvc exp run` composed from conf/ and its -S "
                    f"values: another dvc process rewrote it; {QUEUE_HINT}")
        _write(PIPELINE, {"runner": me, "params": digest, "stage": stage})
