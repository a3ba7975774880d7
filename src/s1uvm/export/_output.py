"""Where an export's bytes go, and how they get there without harming what is already there.

- ``-``: stdout, streamed.
- A special file (FIFO, character device, socket — anything that is not a regular file or a
  folder): opened in place, never created, truncated or replaced, and streamed like stdout.
  The caller moves its bookmark only once the file has been closed without error.
- A regular file, or a name where nothing is yet: written to a private (0600) file of a random
  name in the same folder, created exclusively, so a link planted under any name cannot be
  followed; flushed to disk, then renamed over the target. A rename replaces the name itself,
  never what a link there points to. A target that is a symbolic link to a regular file (or to
  nothing) is refused: the export would either replace the user's link or write through it.

``--out`` may carry ``{date}``, ``{time}`` and ``{datetime}`` (UTC, at the start of the
export), so a daily job writes one file a day; the bookmark is named after the template, so
those files continue one feed."""

from __future__ import annotations

import os
import stat
import string
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, TextIO

PLACEHOLDERS = {"date": "%Y-%m-%d", "time": "%H%M%S", "datetime": "%Y%m%dT%H%M%SZ"}


class OutputError(Exception):
    """The output cannot be written as asked (a usage problem)."""


def expand(template: str, now: datetime) -> str:
    """``template`` with its placeholders filled in (``{{`` and ``}}`` are literal braces)."""
    out: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise OutputError(
            f"--out {template!r} has an unmatched brace ({exc}); write a literal brace as "
            "{{ or }}"
        ) from None
    for literal, name, spec, conversion in parsed:
        out.append(literal)
        if name is None:
            continue
        if name not in PLACEHOLDERS or spec or conversion:
            raise OutputError(
                f"--out {template!r} has an unknown placeholder {{{name}}}; use "
                + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
            )
        out.append(now.strftime(PLACEHOLDERS[name]))
    return "".join(out)


def identity(template: str) -> str:
    """What names the output in a bookmark: ``-`` for stdout, else the template's absolute
    path through the real path of its folder — so ``day1.jsonl``, ``./day1.jsonl`` and
    ``/home/me/day1.jsonl`` are one output. The last name is kept as written: resolving
    ``/dev/stdout`` would give a different pipe every run."""
    if template == "-":
        return "-"
    path = os.path.abspath(os.path.expanduser(template))
    folder, name = os.path.split(path)
    return os.path.join(os.path.realpath(folder), name)


def is_special(path: Path) -> bool:
    """True for a file to write in place; False for a regular file or a free name. Raises
    ``OutputError`` for a folder and for a link that does not lead to a special file."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise OutputError(f"cannot use --out {path}: {exc.strerror}") from None
    if stat.S_ISLNK(info.st_mode):
        try:
            info = os.stat(path)
        except OSError:
            info = None  # type: ignore[assignment]
        if info is None or stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode):
            raise OutputError(
                f"--out {path} is a symbolic link; an export never writes through a link or "
                "replaces one — give the path of the file itself (or - for standard output)"
            )
        return True
    if stat.S_ISDIR(info.st_mode):
        raise OutputError(f"--out {path} is a folder; give a file name in it")
    return not stat.S_ISREG(info.st_mode)


@contextmanager
def special_text(path: Path) -> Iterator[TextIO]:
    """A special file opened in place for text; closed (and so flushed) before the block's
    caller goes on, so a failed write raises there."""
    with (
        _special(path) as raw,
        open(raw.fileno(), "w", encoding="utf-8", newline="", closefd=False) as text,
    ):
        yield text


@contextmanager
def _special(path: Path) -> Iterator[IO[bytes]]:
    # No O_CREAT, no O_TRUNC: what is there is written to, nothing else. A FIFO blocks here
    # until its reader opens it, as any writer's would.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise OutputError(f"cannot write to --out {path}: {exc.strerror}") from None
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):  # swapped for a regular file since we looked
            raise OutputError(f"--out {path} changed while the export started; run it again")
    except BaseException:
        os.close(fd)
        raise
    with open(fd, "wb") as f:
        yield f


def copy_to_special(source: Path, path: Path) -> None:
    """A finished file (Parquet) streamed into a special file."""
    with _special(path) as out, open(source, "rb") as f:
        while chunk := f.read(1 << 20):
            out.write(chunk)


def replace_regular(path: Path, write: Callable[[int], None]) -> None:
    """``write(fd)`` fills a private file beside ``path``, which then takes ``path``'s place;
    on any failure (or Ctrl-C) the private file is removed and ``path`` left as it was."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".s1uvm-", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OutputError(f"cannot write a file in {path.parent}: {exc.strerror}") from None
    try:
        os.fchmod(fd, 0o600)  # mkstemp's mode already; exact whatever the platform
        write(fd)
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        Path(tmp).unlink(missing_ok=True)
        raise


def prepare_folder(path: Path) -> None:
    """Create the target's folder if needed (private: it may be a new ``{date}`` folder)."""
    missing = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    try:
        for folder in reversed(missing):  # each one private, not only the last
            folder.mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the folder {path.parent}: {exc.strerror}") from None
