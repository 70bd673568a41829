"""LM Archive: a lossless archiver whose entries are coded by exact integer models.

The API follows zipfile/tarfile::

    import lmarchive
    with lmarchive.open("docs.lmz", "w") as archive:
        archive.add("docs")
    with lmarchive.open("docs.lmz") as archive:
        print(archive.namelist())
        archive.extractall("out")

Importing the package also registers the "lmz" format with shutil.make_archive and
shutil.unpack_archive.
"""

import os

# OpenBLAS's threads spin for about 2**28 cycles after each matrix product, taking the cores from
# the compiled loops that follow (the pretrained engine alternates the two): measured 2.4x slower
# attention.  Read when numpy loads OpenBLAS, so only effective before numpy's first import.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from importlib.metadata import PackageNotFoundError, version

from lmarchive.archive import LMZFile, LMZInfo, is_lmzfile, open, register_shutil_formats
from lmarchive.errors import (
    AccessError,
    ArchiveBusyError,
    CancelledError,
    ChecksumError,
    DamagedArchiveError,
    ExtractError,
    FormatError,
    LMArchiveError,
    MemberNotFoundError,
    ModelError,
    OverwriteError,
    UnsafePathError,
)

try:
    __version__ = version("lmarchive")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

register_shutil_formats()

__all__ = [
    "AccessError",
    "ArchiveBusyError",
    "CancelledError",
    "ChecksumError",
    "DamagedArchiveError",
    "ExtractError",
    "FormatError",
    "LMArchiveError",
    "LMZFile",
    "LMZInfo",
    "MemberNotFoundError",
    "ModelError",
    "OverwriteError",
    "UnsafePathError",
    "__version__",
    "is_lmzfile",
    "open",
    "register_shutil_formats",
]
