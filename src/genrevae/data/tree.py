"""Walking a dataset's folder tree so that nothing is dropped without a word: hidden
entries, broken links, link loops, folders linked twice, devices and unreadable folders are
each reported with a reason, and symbolic links to folders are followed once each."""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class TreeWalk:
    """What :func:`walk_tree` found: the files to consider (sorted) and every entry left
    out as (path, reason, detail); ``folders`` maps each folder read, by real path, to the
    path it was read under."""

    root: Path
    files: list[Path] = field(default_factory=list)
    left_out: list[tuple[Path, str, str]] = field(default_factory=list)
    folders: dict[str, Path] = field(default_factory=dict)


def walk_tree(root: Path) -> TreeWalk:
    """Every file under ``root``, following symbolic links to folders once each.

    Nothing is dropped without a word: each entry not returned is in ``left_out`` with a
    reason: ``hidden`` (name starts with '.'; a hidden folder is not read), ``broken_link``,
    ``link_loop`` (a link to a folder above it, or to itself), ``linked_twice`` (a link to a
    folder read elsewhere in the tree), ``not_a_file`` (device, pipe, socket),
    ``unreadable`` and ``empty_folder``. Real folders are read before links to them, so a
    link never takes a folder's files from their own genre.
    """
    walk = TreeWalk(root, folders={os.path.realpath(root): root})
    links: list[Path] = []
    _read_folder(root, walk, links)
    while links:  # links found while reading the links' folders join the queue
        link = links.pop(0)
        real = os.path.realpath(link)
        if real in walk.folders:
            above = Path(os.path.realpath(link.parent)).is_relative_to(real)
            walk.left_out.append((link, "link_loop" if above else "linked_twice",
                                  f"links to {walk.folders[real]}, "
                                  + ("a folder above it" if above else "read there")))
            continue
        walk.folders[real] = link
        _read_folder(link, walk, links)
    walk.files.sort()
    return walk


def _read_folder(folder: Path, walk: TreeWalk, links: list[Path]) -> None:
    """Add ``folder``'s files to ``walk``, read its real sub-folders, queue its links."""
    try:
        entries = sorted(Path(e.path) for e in os.scandir(folder))
    except OSError as exc:
        walk.left_out.append((folder, "unreadable", f"cannot list the folder ({exc.strerror})"))
        return
    if not entries and walk.folders.get(os.path.realpath(folder)) != walk.root:
        walk.left_out.append((folder, "empty_folder", "holds no file"))
    for path in entries:
        kind, detail = _entry_kind(path)
        if kind == "file":
            walk.files.append(path)
        elif kind == "folder" and path.is_symlink():
            links.append(path)
        elif kind == "folder":
            walk.folders[os.path.realpath(path)] = path
            _read_folder(path, walk, links)
        else:
            walk.left_out.append((path, kind, detail))


def _entry_kind(path: Path) -> tuple[str, str]:
    """``file``, ``folder`` or the reason ``path`` is left out, with a detail. An entry
    the walk may not look at (``/proc``, another user's folder) is ``unreadable``."""
    try:
        return _kind(path)
    except OSError as exc:
        return "unreadable", f"cannot read it ({exc.strerror or type(exc).__name__})"


def _kind(path: Path) -> tuple[str, str]:
    if path.name.startswith("."):
        what = "folder, not read" if stat.S_ISDIR(_mode(path)) else "file"
        return "hidden", f"hidden {what} (name starts with '.')"
    try:
        mode = path.stat().st_mode  # follows links
    except OSError as exc:
        if not path.is_symlink():
            return "unreadable", f"cannot read it ({exc.strerror})"
        if exc.errno == errno.ELOOP:
            return "link_loop", f"symbolic link that leads back to itself ({os.readlink(path)})"
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return "broken_link", f"symbolic link to {os.readlink(path)}, which does not exist"
        return "unreadable", f"symbolic link to {os.readlink(path)} ({exc.strerror})"
    if stat.S_ISREG(mode):
        return "file", ""
    if stat.S_ISDIR(mode):
        return "folder", ""
    return "not_a_file", "neither a file nor a folder (a device, pipe or socket)"


def _mode(path: Path) -> int:
    """``path``'s mode (following links), 0 when it cannot be read."""
    try:
        return path.stat().st_mode
    except OSError:
        return 0
