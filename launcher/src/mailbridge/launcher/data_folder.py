"""The data folder is private to its owner: the database, its -wal and -shm, the JetStream store
and the keys hold every stored mail and secret. New files are made 0600 and folders 0700 (the
umask, inherited by every service the runner starts); what an older version left is tightened."""

import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077
FOLDER_MODE = 0o700
FILE_MODE = 0o600


def make_private(var_dir: Path) -> None:
    """Create `var_dir` if missing and take group and other access off it and all inside."""
    os.umask(PRIVATE_UMASK)
    var_dir.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    _tighten(var_dir)
    for root, folders, files in os.walk(var_dir):
        for name in folders + files:
            _tighten(Path(root, name))


def _tighten(path: Path) -> None:
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode) or info.st_uid != os.getuid():
        return  # a link's target, or someone else's file, is not ours to change
    wanted = FOLDER_MODE if stat.S_ISDIR(info.st_mode) else FILE_MODE
    current = stat.S_IMODE(info.st_mode)
    if current & ~wanted:
        path.chmod(current & wanted)
