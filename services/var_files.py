"""Files at rest under VAR_DIR: the owner's alone, whatever the umask.

Everything Verrou writes locally (the SQLite database, the development key, `.eml` files,
recovery documents) is a secret or personal data, so folders are made 0700 and files 0600.
The process umask only ever removes bits, and a umask of 0o022 (the usual) would leave files
world-readable through `open()` or `Path.write_text`: the modes are set explicitly, with
`chmod`, after creation.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
# Group and others' bits: a file or folder with any of them is tightened.
_SHARED = stat.S_IRWXG | stat.S_IRWXO


def private_dir(path: Path) -> Path:
    """`path` as a folder, every missing folder on the way made 0700. One that exists is left
    as it is (it may be the operator's, a home directory holding DATABASE_URL's file); what
    an older version made under VAR_DIR is tightened by `tighten_tree` at start."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, DIR_MODE)
        except FileExistsError:
            pass  # another process of ours made it first, 0700 as well
        else:
            os.chmod(folder, DIR_MODE)
    return path


def tighten(path: Path, mode: int) -> None:
    """Set `mode` on `path` when it exists with group or others' bits (a file or folder of
    an older version, made under the umask); someone else's file, and a symbolic link, are
    left as they are."""
    try:
        current = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISLNK(current.st_mode):
        return
    if current.st_mode & _SHARED and current.st_uid == os.geteuid():
        os.chmod(path, mode)


def tighten_tree(root: Path) -> None:
    """Tighten `root` and everything under it that exists (what an older version left
    readable); run once at start-up. Symbolic links are not followed."""
    tighten(root, DIR_MODE)
    for folder, folders, files in os.walk(root):
        for name in folders:
            tighten(Path(folder, name), DIR_MODE)
        for name in files:
            tighten(Path(folder, name), FILE_MODE)


def create_private(path: Path) -> None:
    """Create `path` empty, 0600, if it does not exist (its folder made private first)."""
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        tighten(path, FILE_MODE)
        return
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


def write_private(path: Path, content: str) -> None:
    """Write `content` (UTF-8) to `path`, which is 0600 before any byte is in it."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(fd, FILE_MODE)
        handle.write(content)
