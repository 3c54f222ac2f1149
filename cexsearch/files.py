"""Files a user keeps and shares: written atomically, with the permissions a plain write gives.

Every file cexsearch writes (witness documents, the witness store, JUnit and JSON
reports, derivations, plots) goes through :func:`atomic_open`: the content goes to
a temporary file beside the target, which is renamed over it only when complete,
so no reader ever sees half a file.  The temporary file is created with mode
0666 and the process's umask applies to it, as it does to ``open(path, "w")``;
``tempfile.mkstemp`` would create it 0600 and every shared witness would end up
unreadable to the rest of a team.  A file that already exists keeps its mode,
as it would under a plain write.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from .errors import InputError

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def _create_beside(target: Path) -> tuple[int, Path]:
    """A new temporary file in the target's directory, with the mode a plain write would give the target."""
    try:
        keep: int | None = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        keep = None
    for _ in range(100):
        tmp = target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, _FLAGS, 0o666)  # the kernel applies the umask, as for open(path, "w")
        except FileExistsError:
            continue
        if keep is not None:
            try:
                os.chmod(tmp, keep)
            except OSError:
                os.close(fd)
                tmp.unlink(missing_ok=True)
                raise
        return fd, tmp
    raise FileExistsError(f"no free temporary name beside {str(target)!r}")


@contextmanager
def atomic_open(path: str | os.PathLike[str], binary: bool = False) -> Iterator[IO[Any]]:
    """A file object whose content replaces ``path`` in one rename when the block ends without an error.

    Missing parent folders are created.  A path that cannot be written is an
    :class:`InputError` naming it; on any error the target is left as it was.
    """
    target = Path(path)
    tmp: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create_beside(target)
        with os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8") as f:
            yield f
        os.replace(tmp, target)
        tmp = None
    except OSError as e:
        raise InputError(f"cannot write {str(path)!r}: {e.strerror or e}",
                         hint="choose a path in a writable directory") from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)  # left only when the rename did not happen


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through :func:`atomic_open`."""
    with atomic_open(path) as f:
        f.write(text)
