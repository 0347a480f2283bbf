"""Stage `check`: every parameter was validated when the config was loaded, and no stage's
output path points at a folder this project did not write (DVC deletes a stage's outputs
before running it, so this is the last moment to refuse); record that."""

from __future__ import annotations

from genrevae.config import Config
from genrevae.io import save_json
from genrevae.pipeline.outputs import OUTPUTS, check_outputs


def run(cfg: Config) -> None:
    check_outputs(cfg, OUTPUTS)
    # Its bytes never change, so a passing check reruns nothing after it.
    save_json(cfg.paths.checked, {"params": "valid"})
