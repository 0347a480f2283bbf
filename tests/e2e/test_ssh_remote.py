"""The DVC remote a lab shares across machines, SSH (dvc-ssh), against a real sshd: Debian's
openssh-server started here on a free loopback port with its own sshd_config, a throwaway
host key and client key (no system service). Push, pull into a second clone, and the one
line `genrevae push`/`pull` print when the server is down or the key is refused.

Tests in this file run in order against one copied project and one server.
"""

from __future__ import annotations

import getpass
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from genrevae.io import OWNED

from .conftest import BIN, Project, build_project, free_port

pytestmark = pytest.mark.e2e

SSHD = Path("/usr/sbin/sshd")


class Sshd:
    """sshd -D on 127.0.0.1:port, in its own process group; ``stop`` ends it."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.port = free_port()
        for key in ("host_key", "id_lab", "id_stranger"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", key, "-f",
                            str(home / key)], check=True)
        (home / "authorized_keys").write_text((home / "id_lab.pub").read_text())
        config = home / "sshd_config"
        config.write_text(f"""Port {self.port}
ListenAddress 127.0.0.1
HostKey {home / 'host_key'}
PidFile {home / 'sshd.pid'}
AuthorizedKeysFile {home / 'authorized_keys'}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
""")
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # its privilege-separation dir
        self.log = (home / "sshd.log").open("w")
        self.proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"sshd did not start:\n{(home / 'sshd.log').read_text()}") from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        self.log.close()


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    if not SSHD.is_file():
        pytest.skip("Debian's openssh-server is not installed (make sshd: apt-get install "
                    "openssh-server)")
    server = Sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def lab(tmp_path_factory, sshd) -> tuple[Project, Path]:
    """A copied project whose committed remote `lab` is the sshd's folder, the key in its
    .dvc/config.local, and a HOME whose known_hosts trusts the server: what a lab member has."""
    base = tmp_path_factory.mktemp("lab")
    home = base / "home"
    (home / ".ssh").mkdir(parents=True)
    host_key = (sshd.home / "host_key.pub").read_text().split()
    (home / ".ssh" / "known_hosts").write_text(f"[127.0.0.1]:{sshd.port} {host_key[0]} {host_key[1]}\n")
    p = build_project(base / "genrevae")
    p.env["HOME"] = str(home)
    store = base / "store"
    p.dvc("remote", "add", "lab", f"ssh://{getpass.getuser()}@127.0.0.1:{sshd.port}{store}")
    p.dvc("repro", "prepare")
    p.git("add", "-A")
    p.git("commit", "-q", "-m", "the lab's ssh remote; prepare")
    return p, store


def _clone(lab_project: Project, name: str, key: Path) -> Project:
    p = Project(lab_project.root.parent / name, lab_project.env)
    subprocess.run(["git", "clone", "-q", str(lab_project.root), str(p.root)], check=True,
                   env=p.env)
    p.dvc("remote", "modify", "--local", "lab", "keyfile", str(key))
    return p


def _genrevae(p: Project, *args: str) -> subprocess.CompletedProcess:
    return p.run(str(BIN / "genrevae"), *args, check=False, timeout=120)


def test_push_over_ssh(lab, sshd):
    project, store = lab
    project.dvc("remote", "modify", "--local", "lab", "keyfile", str(sshd.home / "id_lab"))
    proc = _genrevae(project, "push", "-r", "lab", "prepare")
    assert proc.returncode == 0, proc.stderr
    assert [f for f in (store / "files" / "md5").rglob("*") if f.is_file()]


def test_pull_over_ssh_into_a_second_clone(lab, sshd):
    project, _ = lab
    second = _clone(project, "second", sshd.home / "id_lab")
    assert not (second.root / "data/prepared/manifest.csv").exists()
    proc = _genrevae(second, "pull", "-r", "lab", "prepare")
    assert proc.returncode == 0, proc.stderr
    for path in sorted((project.root / "data/prepared").rglob("*")):
        # The marker a stage leaves is dvcignored bookkeeping: not cached, not pulled.
        if path.is_file() and path.name != OWNED:
            rel = path.relative_to(project.root)
            assert (second.root / rel).read_bytes() == path.read_bytes(), rel
    status = second.dvc("status", "prepare").stdout
    assert "changed" not in status and "deleted" not in status


def _one_error_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def test_refused_key_is_one_line(lab, sshd):
    project, _ = lab
    stranger = _clone(project, "stranger", sshd.home / "id_stranger")
    line = _one_error_line(_genrevae(stranger, "pull", "-r", "lab", "prepare"))
    assert line.startswith(f"error: dvc pull: DVC remote 'lab' (ssh://{getpass.getuser()}@"
                           f"127.0.0.1:{sshd.port}")
    assert "refused the login (key not accepted)" in line
    assert "dvc remote modify --local lab keyfile" in line
    assert not (stranger.root / "data/prepared/manifest.csv").exists()


def test_server_down_is_one_line(lab, sshd):
    project, _ = lab
    sshd.stop()
    third = _clone(project, "third", sshd.home / "id_lab")
    line = _one_error_line(_genrevae(third, "pull", "-r", "lab", "prepare"))
    assert "DVC remote 'lab'" in line and "refused the connection: is its server up" in line
    # The push side says the same.
    line = _one_error_line(_genrevae(project, "push", "-r", "lab"))
    assert line.startswith("error: dvc push: DVC remote 'lab'") and "is its server up" in line
