"""Opening the SQLite file: created private (0600) with its folder (0700), WAL so readers never
block the writer, synchronous=NORMAL (durable at each checkpoint, safe against corruption), a
busy timeout so a second writer waits instead of failing at once, and any problem —
permissions, a damaged or foreign file, an old SQLite — found up front and told in one line
that says what to fix, rather than surfacing halfway through a sync."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from pathlib import Path

from s1uvm.store._errors import StoreError

BUSY_TIMEOUT_MS = 30_000
# The WAL is copied back into the file by a thread of its own (``Writers``) every so many
# commits, outside the writers' turns. A page of risks dirties index pages all over a
# million-row table and SQLite's default (every 1,000 WAL pages) copied each of them back every
# few commits; 16 commits of risks are about 20,000 WAL pages, so an index page dirtied by
# many of them is copied once, not once per commit. Done by the committing writer inside its
# turn, as SQLite does it, the copies would hold every other writer up.
CHECKPOINT_EVERY_COMMITS = 16
# SQLite's own checkpoint after a commit, kept for when that thread is not keeping up.
WAL_CHECKPOINT_PAGES = 100_000
MIN_SQLITE = (3, 24, 0)  # INSERT … ON CONFLICT … DO UPDATE (upsert)
log = logging.getLogger("s1uvm.store")
_DAMAGED = {"SQLITE_NOTADB", "SQLITE_CORRUPT"}
_BUSY = {"SQLITE_BUSY", "SQLITE_LOCKED"}


def connect(path: Path) -> sqlite3.Connection:
    where = str(path)
    if sqlite3.sqlite_version_info < MIN_SQLITE:
        raise StoreError(
            f"this Python's SQLite is {sqlite3.sqlite_version}; s1uvm needs "
            f"{'.'.join(map(str, MIN_SQLITE))} or newer — use a newer Python build"
        )
    _prepare_file(path)
    conn: sqlite3.Connection | None = None
    try:
        conn = sqlite3.connect(
            where, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
        )
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _switch_to_wal(conn)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        if conn is not None:
            conn.close()
        raise open_error(where, exc) from None
    return conn


class TurnLock:
    """A lock taken first come, first served. A plain lock lets the thread that released it
    take it straight back, so a writer with its next page ready could keep the others waiting
    page after page."""

    def __init__(self) -> None:
        self._turns = threading.Condition()
        self._issued = 0  # tickets handed out
        self._serving = 0  # the ticket whose turn it is
        self._abandoned: set[int] = set()  # tickets whose holders stopped waiting

    def __enter__(self) -> None:
        with self._turns:
            ticket = self._issued
            self._issued += 1
            try:
                while ticket != self._serving:
                    self._turns.wait()
            except BaseException:  # interrupted while waiting: give the turn up
                self._abandoned.add(ticket)
                self._advance()
                raise

    def __exit__(self, *exc: object) -> None:
        with self._turns:
            self._serving += 1
            self._advance()

    def _advance(self) -> None:
        while self._serving in self._abandoned:
            self._abandoned.discard(self._serving)
            self._serving += 1
        self._turns.notify_all()


class Writers:
    """This process's writers to one database file. They take turns (a ``TurnLock``):
    connectors side by side each hold their own connection, and one waiting for another's
    write transaction in SQLite's busy handler sleeps in steps of up to 100 ms and wakes late;
    the turn hands over the moment the other commits (other processes still wait in the busy
    handler). And their WAL is copied back into the file by a thread of its own, on its own
    connection, every ``CHECKPOINT_EVERY_COMMITS`` turns: the bulk of it while the writers go
    on, then, in a turn, what they appended meanwhile — so the next writer starts the WAL over
    and it does not grow. Entered as a context manager for one write transaction."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.turns = TurnLock()
        self.users = 0  # stores open on the file; the thread stops with the last
        self.checkpoints = 0  # copies made by the thread (tests and figures)
        self._state = threading.Condition()
        self._commits = 0
        self._stopping = False
        self._thread: threading.Thread | None = None

    def __enter__(self) -> None:
        self.turns.__enter__()

    def __exit__(self, *exc: object) -> None:
        self.turns.__exit__(*exc)
        with self._state:
            self._commits += 1
            if self._commits >= CHECKPOINT_EVERY_COMMITS and not self._stopping:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._checkpoint_all, name="wal-checkpoint", daemon=True
                    )
                    self._thread.start()
                self._state.notify()

    def _due(self) -> bool:
        """Wait until enough turns have passed; False when told to stop."""
        with self._state:
            while self._commits < CHECKPOINT_EVERY_COMMITS and not self._stopping:
                self._state.wait()
            self._commits = 0
            return not self._stopping

    def _checkpoint_all(self) -> None:
        try:
            conn = sqlite3.connect(
                str(self.path), isolation_level=None, check_same_thread=False, timeout=5
            )
        except sqlite3.Error as exc:
            log.warning("%s: WAL copies left to SQLite (%s)", self.path, exc)
            return
        try:
            while self._due():
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                with self.turns:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                self.checkpoints += 1
        except sqlite3.Error as exc:  # the writers' own checkpoints still keep the WAL bounded
            log.warning("%s: WAL copies left to SQLite (%s)", self.path, exc)
        finally:
            conn.close()

    def stop(self) -> None:
        with self._state:
            self._stopping = True
            self._state.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()


_writers: dict[str, Writers] = {}
_writers_guard = threading.Lock()


def writers(path: Path) -> Writers:
    """The ``Writers`` of a database file in this process, for one more store; give it back
    with ``release``."""
    key = os.path.realpath(path)
    with _writers_guard:
        found = _writers.get(key)
        if found is None:
            found = _writers[key] = Writers(path)
        found.users += 1
        return found


def release(w: Writers) -> None:
    """One store fewer on the file; the last one stops its checkpoint thread."""
    with _writers_guard:
        w.users -= 1
        last = w.users <= 0
        if last and _writers.get(os.path.realpath(w.path)) is w:
            del _writers[os.path.realpath(w.path)]
    if last:
        w.stop()


def _switch_to_wal(conn: sqlite3.Connection) -> None:
    """Turning WAL on needs a moment of exclusive access, and SQLite answers "locked" at
    once instead of calling the busy handler — two processes opening a new file together
    would see it. Retry within the busy timeout, as every other statement waits."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = 0.01
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL").fetchone()
            return
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorname", "") not in _BUSY or time.monotonic() > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.25)


def open_error(where: str, exc: sqlite3.Error) -> StoreError:
    """The one line for a database that cannot be opened or prepared."""
    name = getattr(exc, "sqlite_errorname", "")
    if name in _DAMAGED:
        return StoreError(
            f"{where} is not an s1uvm database or is damaged: {exc}; move it aside or point "
            "--db elsewhere"
        )
    if name in _BUSY:
        return StoreError(
            f"the database {where} is locked by another process ({exc}); run again when it "
            "has finished"
        )
    return StoreError(
        f"cannot open the database {where}: {exc}; check that it and its folder are "
        "writable, or point --db elsewhere"
    )


def _prepare_file(path: Path) -> None:
    where = str(path)
    folder = path.parent
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"cannot create the folder for the database {where}: {exc.strerror}; "
            "choose another --db"
        ) from None
    if path.is_dir():
        raise StoreError(f"{where} is a folder; point --db at a file, e.g. {path / 's1uvm.db'}")
    exists = path.exists()
    if exists and not os.access(path, os.R_OK | os.W_OK):
        raise StoreError(
            f"the database {where} is not readable and writable by you; fix its "
            "permissions or choose another --db"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        # SQLite creates its -wal and -shm files next to the database.
        raise StoreError(
            f"cannot create the database's files in {folder}: the folder is not writable by "
            "you; fix its permissions or choose another --db"
        )
    if not exists:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            try:
                os.fchmod(fd, 0o600)  # exactly private, whatever the umask
            finally:
                os.close(fd)
        except FileExistsError:
            pass  # another process created it a moment ago
        except OSError as exc:
            raise StoreError(
                f"cannot create the database {where}: {exc.strerror}; choose another --db"
            ) from None
