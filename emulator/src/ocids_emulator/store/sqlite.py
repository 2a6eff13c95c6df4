"""Persistence: every resource lives in memory and is written through to one SQLite file.

Reads never touch the disk (that keeps signed GETs fast); a restart reloads everything.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, doc TEXT NOT NULL, meta TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS artifacts (
    job_id TEXT PRIMARY KEY, filename TEXT NOT NULL, content BLOB NOT NULL, md5 TEXT NOT NULL,
    etag TEXT NOT NULL, time_created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS retry_tokens (
    scope TEXT NOT NULL, token TEXT NOT NULL, body_hash TEXT NOT NULL, resource_id TEXT NOT NULL,
    created REAL NOT NULL, PRIMARY KEY (scope, token)
);
CREATE TABLE IF NOT EXISTS log_entries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, log_id TEXT NOT NULL, time TEXT NOT NULL,
    source TEXT NOT NULL, content TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS log_entries_by_log ON log_entries (log_id, time, seq);
CREATE TABLE IF NOT EXISTS objects (
    bucket TEXT NOT NULL, name TEXT NOT NULL, content BLOB NOT NULL, meta TEXT NOT NULL,
    PRIMARY KEY (bucket, name)
);
CREATE TABLE IF NOT EXISTS stream_messages (
    stream TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL, key BLOB,
    value BLOB NOT NULL, time TEXT NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (stream, partition, offset)
) WITHOUT ROWID;
"""
RETRY_TOKEN_TTL_S = 24 * 3600


@dataclass
class Record:
    kind: str
    id: str
    doc: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Artifact:
    job_id: str
    filename: str
    content: bytes
    md5: str
    etag: str
    time_created: str


class Store:
    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._records: dict[str, dict[str, Record]] = {}
        for rid, kind, doc, meta in self._db.execute("SELECT id, kind, doc, meta FROM resources"):
            self._records.setdefault(kind, {})[rid] = Record(kind, rid, json.loads(doc), json.loads(meta))

    def close(self) -> None:
        self._db.close()

    # resources -------------------------------------------------------------------------------
    def get(self, kind: str, rid: str) -> Record | None:
        return self._records.get(kind, {}).get(rid)

    def all(self, kind: str) -> Iterator[Record]:
        return iter(list(self._records.get(kind, {}).values()))

    def save(self, record: Record) -> None:
        self._records.setdefault(record.kind, {})[record.id] = record
        self._db.execute(
            "INSERT OR REPLACE INTO resources (id, kind, doc, meta) VALUES (?, ?, ?, ?)",
            (record.id, record.kind, json.dumps(record.doc), json.dumps(record.meta)),
        )

    def delete_record(self, kind: str, rid: str) -> None:
        """Forget a resource (buckets are gone once deleted, unlike jobs and runs)."""
        self._records.get(kind, {}).pop(rid, None)
        self._db.execute("DELETE FROM resources WHERE id = ?", (rid,))

    # artifacts -------------------------------------------------------------------------------
    def put_artifact(self, artifact: Artifact) -> None:
        self._db.execute(
            "INSERT INTO artifacts (job_id, filename, content, md5, etag, time_created) VALUES (?,?,?,?,?,?)",
            (
                artifact.job_id,
                artifact.filename,
                artifact.content,
                artifact.md5,
                artifact.etag,
                artifact.time_created,
            ),
        )

    def artifact(self, job_id: str, *, with_content: bool = True) -> Artifact | None:
        column = "content" if with_content else "x''"
        row = self._db.execute(
            f"SELECT job_id, filename, {column}, md5, etag, time_created FROM artifacts WHERE job_id = ?",
            (job_id,),
        ).fetchone()
        return Artifact(*row) if row else None

    def artifact_size(self, job_id: str) -> int:
        row = self._db.execute("SELECT length(content) FROM artifacts WHERE job_id = ?", (job_id,)).fetchone()
        return int(row[0]) if row else 0

    # Object Storage objects (meta: size, md5, etag, times, content headers, opc-meta-*) ---------
    def put_object(self, bucket_id: str, name: str, content: bytes, meta: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO objects (bucket, name, content, meta) VALUES (?, ?, ?, ?)",
            (bucket_id, name, content, json.dumps(meta)),
        )

    def object_meta(self, bucket_id: str, name: str) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT meta FROM objects WHERE bucket = ? AND name = ?", (bucket_id, name)
        ).fetchone()
        return json.loads(row[0]) if row else None

    def object_content(self, bucket_id: str, name: str) -> bytes | None:
        row = self._db.execute(
            "SELECT content FROM objects WHERE bucket = ? AND name = ?", (bucket_id, name)
        ).fetchone()
        return bytes(row[0]) if row else None

    def delete_object(self, bucket_id: str, name: str) -> bool:
        cursor = self._db.execute("DELETE FROM objects WHERE bucket = ? AND name = ?", (bucket_id, name))
        return cursor.rowcount > 0

    def object_metas(self, bucket_id: str, prefix: str, start: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """A bucket's objects in name order from ``start`` (inclusive) on, names beginning with ``prefix``."""
        lower = max(prefix, start)
        for name, meta in self._db.execute(
            "SELECT name, meta FROM objects WHERE bucket = ? AND name >= ? ORDER BY name", (bucket_id, lower)
        ):
            if not name.startswith(prefix):
                return
            yield name, json.loads(meta)

    # retry tokens ----------------------------------------------------------------------------
    def retry_token(self, scope: str, token: str) -> tuple[str, str] | None:
        row = self._db.execute(
            "SELECT body_hash, resource_id, created FROM retry_tokens WHERE scope = ? AND token = ?",
            (scope, token),
        ).fetchone()
        if row is None or time.time() - row[2] > RETRY_TOKEN_TTL_S:
            return None
        return row[0], row[1]

    def remember_retry_token(self, scope: str, token: str, body_hash: str, resource_id: str) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO retry_tokens (scope, token, body_hash, resource_id, created)"
            " VALUES (?, ?, ?, ?, ?)",
            (scope, token, body_hash, resource_id, time.time()),
        )

    # log entries -----------------------------------------------------------------------------
    def add_log_entries(self, rows: Iterable[tuple[str, str, str, dict[str, Any]]]) -> None:
        self._db.executemany(
            "INSERT INTO log_entries (log_id, time, source, content) VALUES (?, ?, ?, ?)",
            [(log_id, t, source, json.dumps(content)) for log_id, t, source, content in rows],
        )

    def search_log_entries(
        self,
        log_ids: list[str],
        time_start: str,
        time_end: str,
        source_likes: list[list[list[str]]],
        descending: bool,
        offset: int,
        limit: int,
    ) -> list[dict[str, Any]]:
        """`source_likes`: conditions that all apply, each alternatives of LIKE patterns that must
        all match (a `where` clause in disjunctive form)."""
        if not log_ids:
            return []
        marks = ",".join("?" for _ in log_ids)
        sql = f"SELECT content FROM log_entries WHERE log_id IN ({marks}) AND time >= ? AND time <= ?"
        params: list[Any] = [*log_ids, time_start, time_end]
        for alternatives in source_likes:
            groups = [" AND ".join("source LIKE ? ESCAPE '\\'" for _ in group) for group in alternatives]
            sql += " AND (" + " OR ".join(f"({group})" for group in groups) + ")"
            params += [pattern for group in alternatives for pattern in group]
        order = "DESC" if descending else "ASC"
        sql += f" ORDER BY time {order}, seq {order} LIMIT ? OFFSET ?"
        params += [limit, offset]
        return [json.loads(row[0]) for row in self._db.execute(sql, params)]

    # stream messages (Streaming): (partition, offset, key, value, time) rows ---------------------
    def add_stream_message(
        self, stream: str, partition: int, offset: int, key: bytes | None, value: bytes, time_text: str
    ) -> None:
        self._db.execute(
            "INSERT INTO stream_messages (stream, partition, offset, key, value, time, created)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (stream, partition, offset, key, value, time_text, time.time()),
        )

    def stream_messages(
        self, stream: str, partition: int, offset: int, limit: int, since: float
    ) -> list[tuple[int, bytes | None, bytes, str]]:
        """Messages of one partition from ``offset`` on, kept since ``since`` (epoch seconds)."""
        return [
            (row[0], None if row[1] is None else bytes(row[1]), bytes(row[2]), row[3])
            for row in self._db.execute(
                "SELECT offset, key, value, time FROM stream_messages WHERE stream = ? AND partition = ?"
                " AND offset >= ? AND created >= ? ORDER BY offset LIMIT ?",
                (stream, partition, offset, since, limit),
            )
        ]

    def stream_first_offset(
        self, stream: str, partition: int, since: float, time_text: str = ""
    ) -> int | None:
        """The first offset kept since ``since`` (and written at or after ``time_text``)."""
        row = self._db.execute(
            "SELECT MIN(offset) FROM stream_messages WHERE stream = ? AND partition = ? AND created >= ?"
            " AND time >= ?",
            (stream, partition, since, time_text),
        ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def stream_next_offsets(self) -> dict[tuple[str, int], int]:
        return {
            (stream, partition): int(last) + 1
            for stream, partition, last in self._db.execute(
                "SELECT stream, partition, MAX(offset) FROM stream_messages GROUP BY stream, partition"
            )
        }

    def trim_stream_messages(self, stream: str, before: float) -> None:
        self._db.execute("DELETE FROM stream_messages WHERE stream = ? AND created < ?", (stream, before))
