"""Every package module a stage's script reaches through its imports (followed
transitively, lazy imports inside functions included) is a dependency of that stage in
dvc.yaml, so a change to it reruns the stage and no stale result is called up to date."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

SRC = ROOT / "src"
PACKAGE = "genrevae"
# Bookkeeping every stage imports whose content cannot change a stage's outputs, left out of
# the deps so that editing it reruns nothing (beyond modules that hold nothing but a
# docstring and dunder constants, see _inert). Each with why it cannot change a value:
BOOKKEEPING: dict[str, str] = {
    # Stage start and end times for the MLflow run's start, and the refusal of a second
    # pipeline that would rewrite params.yaml under a running one: it records or refuses,
    # never alters what a stage computes.
    "genrevae/pipeline/runlog.py": "stage times and the concurrency guard",
    # Hydra composition of conf/ into params.yaml; stages read params.yaml (a params dep),
    # and import this only for the runlog's guard to recompose and compare.
    "genrevae/config/compose.py": "composes conf/ into params.yaml; stages read params.yaml",
    # Refuses an output path that holds files the project did not write, and leaves a
    # marker (dvcignored) in the folders it owns: it refuses, never changes a value.
    "genrevae/pipeline/outputs.py": "the output-folder guard",
}
ALLOWED: frozenset[str] = frozenset(BOOKKEEPING)


def _inert(file: Path) -> bool:
    """True for a module that runs no code: docstrings and ``__version__``-like constants
    only (a package's __init__ that names it)."""
    for node in ast.parse(file.read_text()).body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and all(
                isinstance(t, ast.Name) and t.id.startswith("__") for t in node.targets):
            continue
        return False
    return True


def _module_file(name: str) -> Path | None:
    """The file of module ``name`` (``genrevae.data.splits``), or None if it names no module
    (an attribute such as a function)."""
    base = SRC.joinpath(*name.split("."))
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _imported(path: Path) -> set[str]:
    """Names of the genrevae modules ``path`` imports, anywhere in it."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == PACKAGE}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] == PACKAGE:
            found.add(node.module)
            # `from genrevae.data import clips` imports the module genrevae.data.clips.
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def reached(script: Path) -> set[Path]:
    """Every package file ``script`` reaches: the modules it imports, the packages above
    them (whose __init__ runs first), and so on."""
    todo, seen = [script], set()
    while todo:
        path = todo.pop()
        for name in _imported(path):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):
                file = _module_file(".".join(parts[:i]))
                if file is not None and file not in seen:
                    seen.add(file)
                    todo.append(file)
    return seen


def _stages() -> dict[str, dict]:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def _covered(file: Path, deps: list[str]) -> bool:
    rel = file.relative_to(ROOT)
    return any(rel == Path(d) or Path(d) in rel.parents for d in deps)


@pytest.mark.parametrize("stage", sorted(_stages()))
def test_every_module_a_stage_reaches_is_a_dependency(stage):
    spec = _stages()[stage]
    script = re.fullmatch(r"python (stages/\w+\.py)", spec["cmd"])
    assert script, f"{stage}: cmd {spec['cmd']!r} is not `python stages/<name>.py`"
    deps = [d for d in spec["deps"] if "${" not in d]
    assert script[1] in deps, f"{stage}: its own script is not a dependency"
    missing = sorted(str(f.relative_to(ROOT)) for f in reached(ROOT / script[1])
                     if not _covered(f, deps) and not _inert(f)
                     and str(f.relative_to(SRC)) not in ALLOWED)
    assert not missing, f"{stage}: dvc.yaml deps miss modules its script reaches: {missing}"


def test_folder_deps_ignore_bytecode():
    """A folder dep (src/genrevae/models) is hashed file by file; DVC would count the
    __pycache__ an import writes into it, and call every stage changed after a test run."""
    folders = {d for spec in _stages().values() for d in spec["deps"]
               if "${" not in d and (ROOT / d).is_dir() and d.startswith("src/")}
    assert "src/genrevae/models" in folders
    ignored = (ROOT / ".dvcignore").read_text().split("\n")
    assert "__pycache__/" in ignored


def test_a_module_that_runs_code_is_not_inert(tmp_path):
    (tmp_path / "a.py").write_text('"""Doc."""\n\n__version__ = "1"\n')
    (tmp_path / "b.py").write_text('"""Doc."""\n\nLIMIT = 3\n')
    assert _inert(tmp_path / "a.py") and not _inert(tmp_path / "b.py")


def test_the_import_walk_finds_lazy_and_from_imports(tmp_path):
    script = tmp_path / "s.py"
    script.write_text("from genrevae.data import clips\n\n\ndef f():\n"
                      "    import genrevae.evaluation.clustering\n")
    names = {str(f.relative_to(SRC)) for f in reached(script)}
    assert {"genrevae/data/clips.py", "genrevae/evaluation/clustering.py",
            "genrevae/__init__.py", "genrevae/data/__init__.py"} <= names


def test_bookkeeping_is_in_no_stage_deps():
    """Editing the run log, the output guard or the composer reruns nothing: no stage lists
    them."""
    listed = {d for spec in _stages().values() for d in spec.get("deps", [])}
    assert not {f"src/{name}" for name in BOOKKEEPING} & listed
    # and no dep is a folder that holds one of them
    assert not {d for d in listed for name in BOOKKEEPING if f"src/{name}".startswith(d + "/")}


def test_seeding_is_a_dependency_of_every_stage():
    """Seeding changes values: the seeds (devices.py) and the harness that loads the config
    and seeds once the stage's module is imported (runner.py) are deps of every stage."""
    for stage, spec in _stages().items():
        assert "src/genrevae/devices.py" in spec["deps"], stage
        assert "src/genrevae/pipeline/runner.py" in spec["deps"], stage
