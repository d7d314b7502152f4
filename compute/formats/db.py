"""ASE SQLite databases (``.db``): structures with their key-value pairs. The file is checked to
hold tables only (no view or trigger that would run the uploader's SQL) before ASE queries it."""

from __future__ import annotations

import os
import tempfile

import ase

from .. import budget
from ..datasets import DatasetError
from ._common import Parts, structures_parts
from ._registry import register

__all__ = ["read_db"]


def _check_plain_sqlite(path: str, name: str) -> None:
    """An ASE database holds tables and indices only: a view or trigger runs the uploader's SQL
    (a recursive view pinned a core for good), so the file is refused before ASE queries it.
    Its row count is checked against the budget too."""
    import sqlite3

    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            kinds = connection.execute("SELECT type, name FROM sqlite_master WHERE type IN ('view', 'trigger')").fetchall()
            if kinds:
                kind, what = kinds[0]
                raise DatasetError(f"{name}: the database defines a {kind} ({what[:60]!r}); an ASE database has only tables."
                                   " Export the structures with ase.db from a trusted copy.")
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "systems" not in tables:
                raise DatasetError(f"{name}: not an ASE database (it has no 'systems' table).")
            (rows,) = connection.execute("SELECT count(*) FROM systems").fetchone()
        finally:
            connection.close()
    except sqlite3.Error as exc:
        raise DatasetError(f"{name}: cannot read the SQLite database ({exc}).") from None
    limits = budget.current()
    if rows > limits.max_structures:  # refused from the count alone: no array of that length is made
        raise DatasetError(f"{name}: {limits.refuse('max_structures', 'the number of structures', rows)}.")


def read_db(data: bytes, name: str) -> Parts:
    import ase.db

    if not data.startswith(b"SQLite format 3\x00"):
        raise DatasetError(f"{name}: not an ASE SQLite database (.db). Check the file or give the right format.")
    frames: list[ase.Atoms] = []
    with tempfile.TemporaryDirectory(prefix="explorer-") as tmp:
        path = os.path.join(tmp, "upload.db")
        with open(path, "wb") as fd:
            fd.write(data)
        _check_plain_sqlite(path, name)
        try:
            with ase.db.connect(path, type="db", use_lock_file=False, serial=True) as db:
                for row in db.select():
                    atoms = row.toatoms()
                    atoms.info.update(row.key_value_pairs)
                    frames.append(atoms)
        except Exception as exc:  # noqa: BLE001 -- sqlite and ASE errors, in one place
            raise DatasetError(
                f"{name}: cannot read row {len(frames)} of the ASE database: {type(exc).__name__}: {exc}."
                f" Check that it was written by ase.db and is not damaged."
            ) from exc
    return structures_parts(frames, name)


register("db", "ASE database", (".db",), read_db, aliases=("ase-db", "sqlite"), gzip=False)
