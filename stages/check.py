"""Stage `check`: validate the whole configuration before any other stage runs.

Every stage depends on this one, so DVC runs it first whenever a parameter changed. An
invalid value stops the pipeline here, in one `error:` line naming the key, before DVC
removes any other stage's outputs (DVC deletes a stage's outputs when it starts it), so
a refused `dvc exp run -S ...` costs no metrics or plots.

Writes paths.checked. Its bytes never change, so a passing check reruns nothing after it.
"""

from genrevae.io import save_json
from genrevae.stage import run_stage


def main(cfg, args):
    # run_stage has already loaded and validated every section of the params.
    save_json(cfg.paths.checked, {"params": "valid"})


if __name__ == "__main__":
    run_stage(main, __doc__)
