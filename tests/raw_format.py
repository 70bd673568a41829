"""A second, independent encoder of the .lmz format, written from docs/FORMAT.md with struct.

Tests build archives with it that the library's own writer would never make (hostile names, wrong
counts, huge virtual chunks, broken versions), and so also check the reader against the written
specification rather than against the writer.  Every field has a plain default; the header,
directory and footer checksums are right unless a test breaks them, a chunk's or an entry's CRC is
whatever the test passes.
"""

from __future__ import annotations

import struct
import zlib

from lmarchive.container import MAGIC


def crc(data: bytes) -> int:
    """CRC32 as the format defines it."""
    return zlib.crc32(data)


def raw_chunk(
    offset: int, coded_len: int, orig_len: int, symbols: int | None = None, crc32: int = 0, method: int = 0
) -> bytes:
    """A 25-byte chunk record."""
    count = orig_len if symbols is None else symbols
    return struct.pack("<QIIIIB", offset, coded_len, orig_len, count, crc32, method)


def raw_entry(
    name: bytes,
    *,
    type_: int = 0,
    size: int = 0,
    mtime: int = 0,
    mode: int = 0o644,
    method: int = 0,
    model: bytes = b"",
    fingerprint: bytes = bytes(32),
    gzip_size: int = 0,
    crc32: int = 0,
    chunks: tuple[bytes, ...] = (),
    chunk_count: int | None = None,
) -> bytes:
    """A directory entry."""
    count = len(chunks) if chunk_count is None else chunk_count
    return (
        struct.pack("<H", len(name))
        + name
        + struct.pack("<BQqIB", type_, size, mtime, mode, method)
        + struct.pack("<B", len(model))
        + model
        + (fingerprint if model else b"")
        + struct.pack("<QII", gzip_size, crc32, count)
        + b"".join(chunks)
    )


def raw_archive(
    data: bytes,
    entries: list[bytes],
    *,
    count: int | None = None,
    version: tuple[int, int] = (1, 0),
    footer_version: tuple[int, int] | None = None,
    trailing: bytes = b"",
) -> bytes:
    """Header + chunk data + directory + footer, with correct CRCs unless a test breaks them."""
    header_body = MAGIC + struct.pack("<HH", *version)
    header = header_body + struct.pack("<I", crc(header_body))
    n = len(entries) if count is None else count
    directory = struct.pack("<I", n) + b"".join(entries) + trailing
    offset = len(header) + len(data)
    footer_body = b"LMZDIR\x00\x01" + struct.pack(
        "<QQIIHH", offset, len(directory), n, crc(directory), *(footer_version or version)
    )
    return header + data + directory + footer_body + struct.pack("<I", crc(footer_body))
