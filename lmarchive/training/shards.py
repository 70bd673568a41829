"""The training corpus on disk: files packed into shards, and the index of where each one is.

:mod:`lmarchive.training.data` reads them back (``read_index``, ``load_corpus``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import IO, Any

from lmarchive.training.data import INDEX_NAME, SEPARATOR

SHARD_BYTES = 64 << 20


class ShardWriter:
    """Files joined by ``SEPARATOR`` into ``shard-NNNNN.bin`` of about ``shard_bytes`` each,
    with one ``files.tsv`` row (shard, offset, length, source, path) per file."""

    def __init__(self, out: Path, shard_bytes: int = SHARD_BYTES) -> None:
        self.out, self.shard_bytes = out, shard_bytes
        self.shards: list[dict[str, Any]] = []
        self.rows: list[bytes] = [b"shard\toffset\tlength\tsource\tpath\n"]
        self._f: IO[bytes] | None = None
        self._pos = 0
        self._hash = hashlib.sha256()

    def add(self, source: str, path: str, data: bytes) -> None:
        """Append one file, starting a new shard when this one would pass ``shard_bytes``."""
        if self._f is None or (self._pos and self._pos + len(SEPARATOR) + len(data) > self.shard_bytes):
            self._finish()
            name = f"shard-{len(self.shards):05d}.bin"
            self.shards.append({"name": name})
            self._f = (self.out / name).open("wb")
        elif self._pos:
            self._write(SEPARATOR)
        name = self.shards[-1]["name"]
        self.rows.append(
            f"{name}\t{self._pos}\t{len(data)}\t{source}\t".encode() + path.encode("utf-8", "surrogateescape") + b"\n"
        )
        self._write(data)

    def _write(self, data: bytes) -> None:
        assert self._f is not None
        self._f.write(data)
        self._hash.update(data)
        self._pos += len(data)

    def _finish(self) -> None:
        if self._f is not None:
            self._f.close()
            self.shards[-1].update(bytes=self._pos, sha256=self._hash.hexdigest())
        self._f, self._pos, self._hash = None, 0, hashlib.sha256()

    def close(self) -> list[dict[str, Any]]:
        """Finish the last shard, write ``files.tsv``; the shards' names, sizes and sha256."""
        self._finish()
        (self.out / INDEX_NAME).write_bytes(b"".join(self.rows))
        return self.shards
