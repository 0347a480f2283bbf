"""`genrevae push` / `genrevae pull`: `dvc push --run-cache` / `dvc pull` against the DVC
remote, with a failure told in one line that names the remote and what to do.

DVC itself reports an unreachable SSH server or a refused key as "unexpected error" with
asyncssh's words, and a pull of files nobody pushed as a count; this module reads what DVC
printed and says which remote, and the usual fix (docs/sharing.md, When it fails).
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import sys
from pathlib import Path

from genrevae.errors import GenreVAEError

log = logging.getLogger(__name__)


class RemoteError(GenreVAEError):
    """A push or pull to the DVC remote failed; the message names the remote."""


def _dvc() -> str:
    beside = Path(sys.executable).with_name("dvc")  # this interpreter's, venv or not
    found = str(beside) if beside.is_file() else shutil.which("dvc")
    if found is None:
        raise RemoteError("the dvc command is not on PATH (activate .venv)")
    return found


def remote_url(name: str | None) -> tuple[str, str]:
    """The remote's name and URL: ``name``, else the default remote."""
    dvc = _dvc()
    if name is None:
        name = subprocess.run([dvc, "remote", "default"], capture_output=True,
                              text=True).stdout.strip()
        if not name:
            raise RemoteError("no default DVC remote (.dvc/config sets `shared`; "
                              "`dvc remote default NAME` picks another)")
    listed = subprocess.run([dvc, "remote", "list"], capture_output=True, text=True).stdout
    for line in listed.splitlines():
        parts = line.split()
        if parts and parts[0] == name:
            return name, parts[1] if len(parts) > 1 else ""
    raise RemoteError(f"no DVC remote named {name!r} (dvc remote list shows them)")


def explain(action: str, name: str, url: str, stderr: str) -> str:
    """One line for a failed ``dvc {action}``, from what DVC printed on stderr."""
    where = f"DVC remote {name!r} ({url})"
    if re.search(r"Connect call failed|Connection refused|Errno 111", stderr):
        return (f"dvc {action}: {where} refused the connection: is its server up and the "
                f"address right? (`dvc remote modify --local {name} url ...`)")
    if re.search(r"Permission denied for user|PermissionDenied|Authentication failed", stderr):
        return (f"dvc {action}: {where} refused the login (key not accepted): name the key "
                f"with `dvc remote modify --local {name} keyfile PATH` and add its .pub to "
                f"the server's authorized_keys")
    if re.search(r"[Hh]ost key is not trusted|Host key verification", stderr):
        return (f"dvc {action}: the host key of {where} is not in ~/.ssh/known_hosts "
                f"(ssh to it once, or ssh-keyscan it)")
    if re.search(r"timed out|Name or service not known|nodename nor servname", stderr):
        return f"dvc {action}: {where} cannot be reached (timeout or unknown host)"
    missing = re.search(r"(\d+) files? failed to download", stderr)
    if action == "pull" and missing:
        return (f"dvc pull: {missing.group(1)} file(s) are not in {where}: push them from the "
                f"clone that built them (`make run`, or `genrevae push`)")
    errors = [line.removeprefix("ERROR: ").strip() for line in stderr.splitlines()
              if line.startswith("ERROR:")]
    said = errors[-1] if errors else (stderr.strip().splitlines() or ["no message"])[-1]
    return f"dvc {action}: {where}: {said}"


def transfer(action: str, remote: str | None = None, targets: list[str] | None = None) -> None:
    """Run ``dvc push --run-cache`` (what the workspace built, and the run-cache entries)
    or ``dvc pull``, of ``targets`` (stages or outputs; default all of dvc.lock); DVC's own
    summary goes to stdout, a failure raises one line."""
    name, url = remote_url(remote)
    cmd = [_dvc(), action, "-r", name]
    if action == "push":
        cmd.append("--run-cache")
    cmd += targets or []
    proc = subprocess.run(cmd, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise RemoteError(explain(action, name, url, proc.stderr))
    for line in proc.stderr.splitlines():
        if line.startswith("WARNING:"):
            log.warning("%s", line.removeprefix("WARNING: "))
