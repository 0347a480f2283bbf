"""The commands the README and docs/ mark `<!-- runnable -->` run as written: each file's
blocks, in order, with `bash -euo pipefail` in one temporary copy of the project composing
experiment=tiny (conftest.build_project), so a later block may use what an earlier one
built. A block that fails names its file, its first line and the end of its stderr."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.test_docs import RUNNABLE, doc_files, runnable_blocks

from .conftest import ROOT, build_project

pytestmark = pytest.mark.e2e

DOCS_WITH_BLOCKS = [p for p in doc_files() if runnable_blocks(p)]
BLOCK_TIMEOUT_S = 600


@pytest.mark.parametrize("doc", DOCS_WITH_BLOCKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_runnable_blocks_run(doc: Path, tmp_path: Path) -> None:
    project = build_project(tmp_path / "genrevae")
    rel = doc.relative_to(ROOT)
    for block in runnable_blocks(doc):
        script = tmp_path / f"block-{block.line}.sh"
        script.write_text(block.text, encoding="utf-8")
        start = time.monotonic()
        try:
            proc = subprocess.run(["bash", "-euo", "pipefail", str(script)], cwd=project.root,
                                  env=project.env, capture_output=True, text=True,
                                  timeout=BLOCK_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"{rel}:{block.line}: `{block.first_line}` ran over {BLOCK_TIMEOUT_S} s\n"
                        f"--- stderr tail\n{(exc.stderr or b'')[-3000:]!r}")
        took = time.monotonic() - start
        if proc.returncode != 0:
            pytest.fail(f"{rel}:{block.line}: the {RUNNABLE} block `{block.first_line}` exited "
                        f"{proc.returncode} after {took:.0f} s\n--- stdout tail\n"
                        f"{proc.stdout[-1500:]}\n--- stderr tail\n{proc.stderr[-3000:]}")
        print(f"{rel}:{block.line} `{block.first_line}` ok in {took:.1f} s")
