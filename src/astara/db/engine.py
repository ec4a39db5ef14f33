"""Engine and transaction helpers for SQLite (embedded) and PostgreSQL.

SQLite runs in WAL mode with foreign keys on; a write transaction starts with
``BEGIN IMMEDIATE`` so concurrent writers queue on the lock instead of failing
half-way with "database is locked", and writers of every process first take the
file's ``WriteLock`` so they are served promptly, not by luck. API handlers and bus consumers use
``Database.write()`` / ``Database.read()``. The SQLite file (user_data included)
is its owner's only: created 0600 (SQLite gives -wal and -shm the same mode), and
an existing file, its -wal/-shm/.writelock, made 0600 when a service opens it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from astara.common import private
from astara.db import writelock


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str) -> Engine:
    if _is_sqlite(url):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            _private_file(Path(path))
        # hide_parameters: a failed statement's error (logged) never carries the
        # values it bound -- a listener's private key, a user's data.
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=8,
            hide_parameters=True,
        )
        _sqlite_pragmas(engine)
        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True,
                         hide_parameters=True)


def _private_file(path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Create it 0600 if absent, but never open an existing database: closing any fd of
    # it drops every POSIX lock SQLite holds on it in this process, and another process
    # may then checkpoint and remove the -wal/-shm under our open connections.
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
    private.tighten(path, *(f"{path}{suffix}" for suffix in ("-wal", "-shm", ".writelock")))


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Let SQLAlchemy, not pysqlite, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        immediate = conn.get_execution_options().get("astara_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    """One engine and its session factory, shared by a process's threads."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self.is_sqlite = _is_sqlite(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        path = sqlite_file(url)
        self._write_lock = writelock.for_database(path) if path else None

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        """A session in a write transaction, committed on success, rolled back on error."""
        with self._write_lock.held() if self._write_lock else contextlib.nullcontext(), \
                self._sessions() as session:
            session.connection(execution_options={"astara_write": True})
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        with self._sessions() as session:
            try:
                yield session
            finally:
                session.rollback()

    def ping(self) -> None:
        """Connect once: an unreachable database fails at start, not at the first request."""
        with self.engine.connect():
            pass

    def dispose(self) -> None:
        self.engine.dispose()


def sqlite_file(url: str) -> str | None:
    if _is_sqlite(url) and "///" in url:
        path = url.split("///", 1)[1]
        return None if path == ":memory:" else os.path.abspath(path)
    return None
