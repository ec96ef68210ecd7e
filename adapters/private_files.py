"""Files and folders the bot creates hold users' conversations and media: only its own user reads them.

Files are created 0600 and folders 0700 whatever the process umask, at the moment they are
created (never created open and narrowed after).
"""

from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> None:
    """Create the folder and each missing parent as 0700; folders that exist are left as they are."""
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    for folder in reversed(missing):
        folder.mkdir(mode=DIR_MODE, exist_ok=True)


def create_private(path: Path) -> None:
    """Create the file empty as 0600 if it does not exist yet (an existing one is left untouched)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))


def write_private(path: Path, data: bytes, *, exclusive: bool = False) -> None:
    """Write ``data`` to a 0600 file; ``exclusive`` raises FileExistsError rather than replace one."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, FILE_MODE)
    with os.fdopen(fd, "wb") as file:
        os.fchmod(fd, FILE_MODE)  # a file left by an older version may be wider
        file.write(data)
