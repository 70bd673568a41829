"""The .lmz container: entries whose data is a list of opaque coded chunks, plus a directory.

It knows nothing about compression; the codecs decide what a chunk's bytes mean.
"""

from lmarchive.container.format import (
    BOUNDED_STREAMS,
    FOOTER_SIZE,
    FORMAT_VERSION,
    HEADER_SIZE,
    MAGIC,
    ContainerReader,
    ContainerWriter,
)
from lmarchive.container.records import (
    ChunkRecord,
    EntryRecord,
    EntryType,
    Method,
    name_problem,
    show,
    validate_name,
)

__all__ = [
    "BOUNDED_STREAMS",
    "FOOTER_SIZE",
    "FORMAT_VERSION",
    "HEADER_SIZE",
    "MAGIC",
    "ChunkRecord",
    "ContainerReader",
    "ContainerWriter",
    "EntryRecord",
    "EntryType",
    "Method",
    "name_problem",
    "show",
    "validate_name",
]
