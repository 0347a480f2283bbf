"""Which ``paths`` params each stage writes, and the rule that a stage deletes only what
this project created: before a stage runs (and in the `check` stage, before DVC deletes
any stage's outputs) every output folder it would replace must be absent, empty, marked
with :data:`genrevae.io.OWNED` or recorded as that stage's output in ``dvc.lock``; and no
file output may name an existing folder. Otherwise one ``error:`` line names the param
and the path, and nothing is touched."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from genrevae.config import Config
from genrevae.errors import OutputError
from genrevae.io import mark_owned, refuse_foreign

# The ``paths`` keys each stage writes (dvc.yaml's outs, and the files inside them that
# have a key of their own); tests/pipeline/test_outputs.py checks it against dvc.yaml.
OUTPUTS: dict[str, tuple[str, ...]] = {
    "check": ("checked",),
    "prepare": ("prepared", "manifest", "rejected", "table", "corpus", "split_report"),
    "extract_audio": ("audio_features", "segments", "mel", "handcrafted",
                      "handcrafted_columns", "skipped"),
    "embed_lyrics": ("lyrics_features", "lyrics_embedding", "lyrics_tracks"),
    "fuse": ("fused",),
    "train": ("model", "latent", "train_metrics", "loss_history", "loss_plot"),
    "cluster": ("assignments", "track_assignments"),
    "evaluate": ("eval_metrics", "headline", "eval_plots", "probe"),
    "eda": ("eda_plots", "eda_report"),
}
# The keys that name folders; every other output is a file. Those written whole (through
# genrevae.io.atomic_dir, which marks them) are not created ahead.
FOLDERS = frozenset({"prepared", "corpus", "audio_features", "lyrics_features", "fused",
                     "eval_plots", "eda_plots"})
WHOLE = frozenset({"corpus", "fused"})
LOCK = Path("dvc.lock")


def recorded(stage: str, lock: Path = LOCK) -> set[str]:
    """The outputs ``dvc.lock`` records for ``stage`` (normalised paths): folders DVC
    writes and restores, which it caches without the marker (.dvcignore)."""
    import yaml

    try:
        data = yaml.safe_load(lock.read_text(encoding="utf-8")) or {}
        outs = data["stages"][stage].get("outs") or []
        return {os.path.normpath(o["path"]) for o in outs if isinstance(o, dict)}
    except (OSError, ValueError, KeyError, TypeError, AttributeError, yaml.YAMLError):
        return set()


def check_outputs(cfg: Config, stages: Iterable[str]) -> None:
    """:class:`OutputError` naming the first output of ``stages`` that a run would have to
    delete or overwrite although this project did not write it."""
    for stage in stages:
        ours = recorded(stage)
        for key in OUTPUTS.get(stage, ()):
            path = Path(getattr(cfg.paths, key))
            if key not in FOLDERS:
                if path.is_dir():
                    raise OutputError(f"paths.{key}: {path} is a folder, but this output is "
                                      f"a file; point paths.{key} at a file name")
                continue
            if path.is_dir() and _within(os.path.normpath(path), ours):
                continue  # DVC's: an output it records, or a folder inside one
            refuse_foreign(path, f"paths.{key}")


def _within(path: str, folders: set[str]) -> bool:
    """Whether ``path`` is one of ``folders`` or lies inside one. DVC restores a recorded
    output folder (a pull, a queued experiment's checkout) without the marker, which is
    in .dvcignore, so a marked folder inside it (prepare's ``corpus`` inside ``prepared``)
    comes back unmarked; it is DVC's all the same."""
    return any(path == folder or path.startswith(folder + os.sep) for folder in folders)


def claim_outputs(cfg: Config, stage: str) -> None:
    """Check ``stage``'s outputs, then mark its output folders: those it writes file by file
    are created (with the marker), those written whole are marked if they exist (a folder
    an earlier `dvc repro` recorded)."""
    check_outputs(cfg, [stage])
    for key in OUTPUTS.get(stage, ()):
        if key in FOLDERS and not (key in WHOLE and not Path(getattr(cfg.paths, key)).exists()):
            try:
                mark_owned(getattr(cfg.paths, key))
            except OSError as exc:
                raise OutputError(f"paths.{key}: {getattr(cfg.paths, key)}: cannot create it "
                                  f"({exc.strerror or exc}); make it writable or point "
                                  f"paths.{key} elsewhere") from exc
