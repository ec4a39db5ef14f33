"""A second ``Database`` on an open SQLite file keeps the first one's locks.

SQLite's locks are POSIX locks: closing *any* descriptor of the file in a process
drops all of them. If opening a ``Database`` opened and closed the file itself, the
process's live connections would look absent to other processes, and the last
of those to close would remove the -wal/-shm under them ("disk I/O error").
"""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy import text

from astara.db.engine import Database

OTHER_PROCESS = """
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("PRAGMA journal_mode=WAL")
c.execute("SELECT count(*) FROM t").fetchall()
c.close()
"""


def test_a_second_database_on_an_open_file_keeps_the_first_ones_locks(tmp_path):
    url = f"sqlite:///{tmp_path / 'a.sqlite'}"
    first = Database(url)
    with first.engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    held = first.engine.connect()  # a live connection, as a running API holds
    held.execute(text("SELECT x FROM t")).all()
    second = Database(url)  # what a second service object in this process does
    subprocess.run([sys.executable, "-c", OTHER_PROCESS, str(tmp_path / "a.sqlite")],
                   check=True, timeout=30)
    assert (tmp_path / "a.sqlite-shm").exists()
    held.execute(text("INSERT INTO t VALUES (2)"))
    held.commit()
    assert held.execute(text("SELECT count(*) FROM t")).scalar() == 2
    held.close()
    first.engine.dispose()
    second.engine.dispose()
