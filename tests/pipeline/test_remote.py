"""`genrevae push` / `pull`: what DVC printed on a failure becomes one line naming the remote
and the usual fix (the real transfers, over a folder and over SSH, are in tests/e2e)."""

from __future__ import annotations

import pytest

from genrevae.pipeline.remote import explain

URL = "ssh://127.0.0.1:2222/srv/dvc"


@pytest.mark.parametrize(("stderr", "says"), [
    ("ERROR: unexpected error - [Errno 111] Connect call failed ('127.0.0.1', 2222)",
     "refused the connection: is its server up"),
    ("ERROR: unexpected error - Permission denied for user me on host 127.0.0.1",
     "refused the login (key not accepted)"),
    ("ERROR: Host key is not trusted for host 127.0.0.1", "not in ~/.ssh/known_hosts"),
    ("ERROR: unexpected error - Connection timed out", "cannot be reached"),
    ("WARNING: some\nERROR: 3 files failed to download", "3 file(s) are not in"),
    ("noise\nERROR: something DVC said\n", "something DVC said"),
    ("", "no message"),
])
def test_a_failure_is_one_line_naming_the_remote(stderr: str, says: str) -> None:
    line = explain("pull", "lab", URL, stderr)
    assert says in line
    assert "\n" not in line
    assert line.startswith("dvc pull: ") and f"DVC remote 'lab' ({URL})" in line


def test_a_push_is_never_told_to_push_what_is_missing() -> None:
    line = explain("push", "lab", URL, "ERROR: 3 files failed to download")
    assert "push them from" not in line and line.startswith("dvc push: DVC remote 'lab'")
