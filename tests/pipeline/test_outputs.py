"""The map of each stage's outputs agrees with dvc.yaml, and a folder an earlier `dvc repro`
recorded (before output folders carried the marker) still counts as the project's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from genrevae.config import from_dict
from genrevae.errors import OutputError
from genrevae.io import OWNED
from genrevae.pipeline.outputs import FOLDERS, OUTPUTS, check_outputs, claim_outputs
from tests.conftest import ROOT


def test_outputs_agree_with_dvc_yaml(params) -> None:
    """Every out of a stage in dvc.yaml is in that stage's OUTPUTS, every paths key is some
    stage's output, and FOLDERS are the keys whose outs are folders."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert set(stages) == set(OUTPUTS)
    for name, stage in stages.items():
        outs = [next(iter(o)) if isinstance(o, dict) else o
                for o in [*stage.get("outs", []), *stage.get("metrics", [])]]
        keys = {re.fullmatch(r"\$\{paths\.(\w+)\}", o).group(1) for o in outs}
        assert keys <= set(OUTPUTS[name]), name
    listed = [k for keys in OUTPUTS.values() for k in keys]
    assert sorted(listed) == sorted(params["paths"]), "each path key is one stage's output"
    assert FOLDERS == {k for k, v in params["paths"].items() if not Path(v).suffix}


def test_a_folder_recorded_in_dvc_lock_is_the_projects(tmp_path, tiny_params,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = from_dict(tiny_params)
    fused = Path(cfg.paths.fused)
    fused.mkdir(parents=True)
    (fused / "audio.npy").write_bytes(b"old")
    with pytest.raises(OutputError, match=rf"^paths\.fused: {fused} holds 1 entries"):
        check_outputs(cfg, ["fuse"])
    Path("dvc.lock").write_text(yaml.safe_dump({"schema": "2.0", "stages": {"fuse": {
        "cmd": "python stages/fuse.py", "outs": [{"path": str(fused), "md5": "x.dir"}]}}}))
    check_outputs(cfg, OUTPUTS)
    other = from_dict({**tiny_params, "paths": {**tiny_params["paths"], "eval_plots": str(fused)}})
    with pytest.raises(OutputError, match=r"^paths\.eval_plots: "):  # recorded for fuse only
        check_outputs(other, ["evaluate"])
    claim_outputs(cfg, "fuse")  # marks it, so the writer may replace it
    assert (fused / OWNED).is_file() and (fused / "audio.npy").read_bytes() == b"old"


def test_a_folder_inside_a_recorded_output_comes_back_unmarked_and_is_the_projects(
        tmp_path, tiny_params, monkeypatch: pytest.MonkeyPatch) -> None:
    """DVC restores prepare's folder (a pull, a queued experiment) without the dvcignored
    marker, so the corpus inside it is unmarked: still DVC's, not the user's."""
    monkeypatch.chdir(tmp_path)
    cfg = from_dict(tiny_params)
    prepared, corpus = Path(cfg.paths.prepared), Path(cfg.paths.corpus)
    assert corpus.parent == prepared
    (corpus / "blues").mkdir(parents=True)
    with pytest.raises(OutputError, match=r"^paths\.prepared: .*\(corpus\)"):
        check_outputs(cfg, ["prepare"])
    Path("dvc.lock").write_text(yaml.safe_dump({"schema": "2.0", "stages": {"prepare": {
        "cmd": "python stages/prepare.py", "outs": [{"path": str(prepared), "md5": "x.dir"}]}}}))
    check_outputs(cfg, ["prepare"])
    # a sibling whose name only starts like the recorded folder is not inside it
    near = from_dict({**tiny_params, "paths": {**tiny_params["paths"],
                                                "corpus": f"{prepared}_mine/corpus"}})
    (Path(f"{prepared}_mine/corpus") / "song").mkdir(parents=True)
    with pytest.raises(OutputError, match=r"^paths\.corpus: "):
        check_outputs(near, ["prepare"])
