"""The house rules a change must keep: each stage's logic lives in one importable module
(``genrevae.pipeline.<stage>``) and its script stays a docstring and a call; no package
module grows past what a reader can hold."""

from __future__ import annotations

import ast

import pytest
import yaml

from tests.conftest import ROOT

STAGES = sorted(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"])
MAX_SCRIPT_LINES = 40
MAX_MODULE_LINES = 450


@pytest.mark.parametrize("stage", STAGES)
def test_stage_script_is_a_docstring_and_a_call(stage: str) -> None:
    """stages/<stage>.py: at most 40 lines, a docstring saying what it reads and writes,
    no function or class of its own, and an import of genrevae.pipeline.<stage>."""
    path = ROOT / "stages" / f"{stage}.py"
    text = path.read_text()
    assert len(text.splitlines()) <= MAX_SCRIPT_LINES
    tree = ast.parse(text)
    doc = ast.get_docstring(tree) or ""
    assert doc.startswith(f"Stage `{stage}`") and "rites" in doc
    assert not [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)]
    imports = {(n.module, a.name) for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
               for a in n.names}
    assert ("genrevae.pipeline", stage) in imports
    assert (ROOT / "src" / "genrevae" / "pipeline" / f"{stage}.py").is_file()


def test_no_package_module_is_over_450_lines() -> None:
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines())
             for p in (ROOT / "src" / "genrevae").rglob("*.py")}
    assert {p: n for p, n in sizes.items() if n > MAX_MODULE_LINES} == {}
