"""Stage `check`: validate the whole configuration before any other stage runs.

Every stage depends on this one, so DVC runs it first whenever a parameter changed. An
invalid value stops the pipeline here, in one `error:` line naming the key, before DVC
removes any other stage's outputs (DVC deletes a stage's outputs when it starts it), so
a refused `dvc exp run -S ...` costs no metrics or plots.

Writes paths.checked. Its bytes never change, so a passing check reruns nothing after it.
"""

from genrevae.pipeline import check
from genrevae.pipeline.runner import run_stage

if __name__ == "__main__":
    run_stage(lambda cfg, args: check.run(cfg), __doc__)
