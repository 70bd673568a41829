"""The ``list`` command: the member table, or ``--json`` for scripts; both show the API's :class:`LMZInfo`."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from typing import Any, TextIO

from lmarchive.archive import LMZFile
from lmarchive.cli.console import Console
from lmarchive.cli.text import count_text, format_table, printable, ratio, sizes_text
from lmarchive.container import Method
from lmarchive.member import LMZInfo


def local_time_text(info: LMZInfo) -> str:
    """The member's time in local time for the human listing (JSON gives UTC)."""
    moment = info.modified
    with contextlib.suppress(OverflowError, OSError, ValueError):  # some platforms reject far dates
        moment = moment.astimezone()
    return moment.strftime("%Y-%m-%d %H:%M")


def entry_json(info: LMZInfo) -> dict[str, Any]:
    """One member for ``list --json``; field names are part of the command's contract."""
    is_model = info.coding == Method.MODEL
    return {
        "name": info.name,
        "type": info.type,
        "size": info.size,
        "packed": info.packed,
        "method": info.method,
        "model": info.model if is_model else None,
        "gzip_size": info.gzip_size,
        "mtime": info.modified.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "mtime_ns": info.mtime_ns,
        "mode": info.mode,
        "crc32": info.crc32,
        "chunks": info.chunks,
        "fingerprint": info.fingerprint if is_model else None,
    }


def write_json_list(out: TextIO, infos: list[LMZInfo]) -> None:
    """``json.dumps([entry_json(i) ...], indent=2)`` plus a newline, written one member at a time.

    A big archive's listing is never held as one list of dicts and one string.  The values are
    scalars and JSON escapes newlines inside strings, so indenting each member's lines is exact.
    """
    if not infos:
        out.write("[]\n")
        return
    for number, info in enumerate(infos):
        text = json.dumps(entry_json(info), indent=2).replace("\n", "\n  ")
        out.write(("[\n  " if number == 0 else ",\n  ") + text)
    out.write("\n]\n")


def cmd_list(args: argparse.Namespace, console: Console) -> int:
    with LMZFile(args.archive) as archive:
        infos = archive.infolist()
    if args.json:
        write_json_list(sys.stdout, infos)
        return 0
    rows = [["Modified", "Size", "Packed", "Ratio", "Gzip", "Method", "Model", "Name"]]
    for info in infos:
        when = local_time_text(info)
        if info.is_dir():
            rows.append([when, "-", "-", "-", "-", "-", "-", printable(info.name) + "/"])
            continue
        gzip_ratio = ratio(info.gzip_size, info.size) if info.gzip_size else "-"
        sizes = [f"{info.size:,}", f"{info.packed:,}", ratio(info.packed, info.size), gzip_ratio]
        rows.append([when, *sizes, info.method, info.model or "-", printable(info.name)])
    for line in format_table(rows, left={0, 5, 6, 7}):
        print(line)
    files = [info for info in infos if not info.is_dir()]
    folders = len(infos) - len(files)
    totals = sizes_text(sum(f.size for f in files), sum(f.packed for f in files), sum(f.gzip_size for f in files))
    parts = f"{count_text(len(files), 'file', 'files')}, {count_text(folders, 'folder', 'folders')}"
    print(f"{count_text(len(infos))} ({parts}): {totals}")
    return 0
