"""Where the lists of a listed split are: a split shipped with the project (a folder under
``named_splits/``, with its source) or a folder of the user's. Kept apart from the split
code so that validating ``data.split`` (every stage loads the config) reads nothing else."""

from __future__ import annotations

from pathlib import Path

RANDOM = "random"
NAMED_DIR = Path(__file__).with_name("named_splits")
# The splits shipped with the project: a folder each under NAMED_DIR.
NAMED_SPLITS = tuple(sorted(p.name for p in NAMED_DIR.iterdir() if p.is_dir()))
# File names of each list; ``valid.txt`` is how several published splits name it.
LIST_FILES = {"train": ("train.txt",), "val": ("val.txt", "valid.txt"), "test": ("test.txt",)}


def list_folder(split: str) -> Path:
    """The folder holding the lists of ``split`` (a shipped name or a path).

    Raises ``FileNotFoundError`` naming what is missing.
    """
    folder = NAMED_DIR / split if split in NAMED_SPLITS else Path(split)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{split!r} is neither {RANDOM}, a split shipped with the project "
            f"({', '.join(NAMED_SPLITS)}), nor a folder")
    for name, files in LIST_FILES.items():
        if not any((folder / f).is_file() for f in files):
            raise FileNotFoundError(f"{folder}: has no {' or '.join(files)} (the {name} list)")
    return folder
