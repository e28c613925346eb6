"""An office command whose database fails mid-command: one sentence, never a traceback.

The office reaches its store through Django, whose errors are not ``sqlite3``'s. Here
another session holds the table a command writes (an open write transaction on SQLite;
``LOCK TABLE`` on PostgreSQL, with ``lock_timeout`` in the office's URL), as a long
report, a migration or an administrator's session would, and the real ``forecourt``
process must answer in one sentence with a reason code, log it, and change nothing.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import psycopg

from core.config import load_config_file
from tests.support import fc


def _groups(config: Path) -> str:
    return fc(config, "office", "groups", "list").stdout


def test_a_locked_table_is_one_sentence_and_nothing_changes(office_env: Path,
                                                             office_database: str) -> None:
    config = office_env
    fc(config, "office", "init")
    fc(config, "office", "groups", "add", "G-ONE", "--name", "One")
    holder: psycopg.Connection[Any] | sqlite3.Connection
    if office_database:
        text = config.read_text()
        joiner = "&" if "?" in office_database else "?"
        config.write_text(text.replace(
            f'database = "{office_database}"',
            f'database = "{office_database}{joiner}options=-c%20lock_timeout%3D300"'))
        holder = psycopg.connect(office_database)
        holder.execute("LOCK TABLE customer_groups IN ACCESS EXCLUSIVE MODE")
        code = "55P03"  # lock_not_available
    else:
        office_dir = load_config_file(config).office.data_dir
        holder = sqlite3.connect(office_dir / "office.db", isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        code = "OperationalError"
    try:
        refused = fc(config, "office", "groups", "add", "G-TWO", "--name", "Two", check=False)
    finally:
        holder.rollback()
        holder.close()
    assert refused.returncode == 1, refused.stderr
    assert "Traceback" not in refused.stderr, refused.stderr
    sentences = [line for line in refused.stderr.splitlines() if line.startswith("Error: ")]
    assert len(sentences) == 1, refused.stderr
    assert sentences[0].startswith(
        f"Error: the office database refused the operation ({code}): "), sentences
    assert "lock" in sentences[0], sentences  # "lock timeout" / "database is locked"
    assert '"event": "office.database_failed"' in refused.stderr, refused.stderr
    listed = _groups(config)
    assert "G-ONE" in listed and "G-TWO" not in listed, listed
    fc(config, "office", "groups", "add", "G-TWO", "--name", "Two")  # and then it goes
    assert "G-TWO" in _groups(config)
