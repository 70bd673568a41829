"""Extracting members: confined to the destination, never through a link, and all or nothing.

Every name is resolved from the destination one folder at a time without following links
(lmarchive.safety.Folder), at the moment it is used, so a folder swapped for a link while a big
member decodes cannot redirect a write.  Each file is decoded into a hidden temporary file beside
its target and given its name only after its checksum passes: with a hard link, which fails if
anything took the name meanwhile, or, when overwriting, after the original has been moved aside
to a hidden backup.  A failure or cancel takes everything back (new files and folders removed,
originals renamed back over what replaced them); only a complete extraction deletes the backups.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
import stat
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Literal

from lmarchive.container import ContainerReader, EntryRecord, validate_name
from lmarchive.container.records import show
from lmarchive.errors import ExtractError, LMArchiveError, OverwriteError, UnsafePathError
from lmarchive.reading import (
    Damage,
    ReadCallbacks,
    damaged_error,
    entry_damage,
    iter_chunks,
    iter_salvaged_chunks,
    verify_entry,
)
from lmarchive.safety import BACKUP_PREFIX, TEMP_PREFIX, Folder, confined_folder, is_link, open_root

_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)

Identity = tuple[int, int]
Resolution = Literal["replace", "skip", "rename"]
"""What to do with one member whose target exists: replace it, leave the member out, or keep both."""


def existing_targets(
    entries: Sequence[EntryRecord], dest: str | os.PathLike[str]
) -> list[tuple[EntryRecord, os.stat_result]]:
    """The file members whose targets under ``dest`` already exist, with what is there (not followed
    if a link), so that a user can be asked about each before anything is extracted.  Only looks;
    extraction checks every target again when it writes it."""
    root = Path(dest)
    found = []
    for entry in entries:
        if entry.is_dir:
            continue  # an existing folder is merged into, not a conflict
        try:
            found.append((entry, os.lstat(root / entry.name)))
        except (OSError, ValueError):  # absent, or a parent that is not a folder: extraction reports it
            continue
    return found


def numbered_name(leaf: str, number: int) -> str:
    """'a.txt' -> 'a (2).txt'; '.bashrc' -> '.bashrc (2)': the name a renamed member gets."""
    path = PurePosixPath(leaf)
    return f"{path.stem} ({number}){path.suffix}"


def _umask() -> int:
    """The process umask.  Linux shows it in /proc; elsewhere it can only be read by setting it, so
    it is set for a moment to the strictest value: a file another thread creates in that moment gets
    fewer permissions than it should, never more."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    umask = os.umask(0o077)
    os.umask(umask)
    return umask


def _mode(entry: EntryRecord, umask: int) -> int:
    """Permissions as tar gives them to a user who is not root: the stored rwx bits under the umask,
    never setuid, setgid or sticky.  Folders keep owner rwx, so what is inside stays reachable."""
    mode = entry.mode & 0o777 & ~umask
    return mode | 0o700 if entry.is_dir else mode


def _stamp(handle: int | str, entry: EntryRecord, umask: int) -> None:
    """Apply a member's permissions and time to a descriptor (or, without dir_fd, a path); file
    systems that cannot hold them (FAT, far dates) are not a reason to fail."""
    with contextlib.suppress(OSError):
        os.chmod(handle, _mode(entry, umask))
    with contextlib.suppress(OSError, OverflowError, ValueError):
        os.utime(handle, ns=(entry.mtime_ns, entry.mtime_ns))


def _identity(st: os.stat_result) -> Identity:
    return st.st_dev, st.st_ino


_TOKEN_BYTES = 8


def _hidden_name(prefix: str = TEMP_PREFIX) -> str:
    return prefix + secrets.token_hex(_TOKEN_BYTES)


def is_decoding_temporary(name: str) -> bool:
    """True for the name of a file an extraction decodes a member into (not an archive writer's
    temporary, which names its archive, nor a kept-aside original)."""
    token = name[len(TEMP_PREFIX) :]
    hexadecimal = all(c in "0123456789abcdef" for c in token)
    return name.startswith(TEMP_PREFIX) and len(token) == 2 * _TOKEN_BYTES and hexadecimal


def _move_unless_taken(folder: Folder, src: str, dst: str) -> bool:
    """Rename ``src`` to ``dst`` in ``folder`` only if nothing is at ``dst``; False if something is."""
    try:
        os.link(folder.at(src), folder.at(dst), src_dir_fd=folder.fd, dst_dir_fd=folder.fd)
    except FileExistsError:
        return False
    except OSError:
        # No hard links on this file system (FAT, some network shares): look, then rename, which
        # leaves a window between the two (Windows' rename itself refuses an existing target).
        if folder.lstat(dst) is not None:
            return False
        try:
            os.rename(folder.at(src), folder.at(dst), src_dir_fd=folder.fd, dst_dir_fd=folder.fd)
        except FileExistsError:
            return False
        return True
    os.unlink(folder.at(src), dir_fd=folder.fd)
    return True


@dataclass
class _Temp:
    """The member being decoded, into a hidden file beside its target."""

    entry: EntryRecord
    folder: Folder
    where: Identity  # the folder's, to tell at the end whether the name still leads to it
    name: str
    handle: BinaryIO
    crc: int = 0
    started: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class _Placed:
    """A file this extraction gave a member's name; ``backup`` is the original it replaced, kept beside it."""

    member: str
    identity: Identity
    backup: str | None


@contextlib.contextmanager
def _naming(entry: EntryRecord) -> Iterator[None]:
    """An OS failure while writing a member becomes an ExtractError naming it."""
    try:
        yield
    except OSError as exc:
        raise ExtractError(f"cannot extract {show(entry.name)}: {exc.strerror or exc}") from exc


class _Extraction:
    """One extraction's state: what it made and replaced, so that a failure or cancel can take it back."""

    def __init__(self, root: Path, *, overwrite: bool, resolutions: Mapping[str, Resolution]) -> None:
        self.root_path = root
        self.overwrite = overwrite
        self.resolutions = resolutions
        self.renamed: dict[str, str] = {}  # member -> the path below the destination it was given instead
        self.umask = _umask()  # once per extraction: reading it elsewhere than Linux means setting it
        self.root: Folder | None = None
        self.made_above: list[Path] = []  # folders made on the way to the destination
        self.made: dict[str, Identity] = {}  # folders made inside it, by path below it, in order
        self.placed: list[_Placed] = []
        self.temp: _Temp | None = None

    def open(self) -> None:
        """Make the destination if needed and open it."""
        root = self.root_path
        try:
            missing = list(reversed([p for p in (root, *root.parents) if not p.exists()]))
            for folder in missing:
                with contextlib.suppress(FileExistsError):
                    folder.mkdir()
                    self.made_above.append(folder)
            self.root = open_root(root)
        except OSError as exc:
            raise ExtractError(f"cannot extract into {root}: {exc.strerror or exc}") from exc

    def close(self) -> None:
        if self.root is not None:
            self.root.close()

    def folder(self, member: str, parts: Sequence[str], *, make: bool = False) -> Folder | None:
        """The folder ``parts`` below the destination, reached afresh without following links."""
        assert self.root is not None
        return confined_folder(self.root, member, parts, made=self.made.__setitem__ if make else None)

    def check(self, entry: EntryRecord) -> None:
        """Refuse, before anything is written, a member that would go through a link or meets a conflict."""
        validate_name(entry.name)
        *parts, leaf = entry.name.split("/")
        folder = self.folder(entry.name, parts)
        if folder is not None:
            with folder:
                self._check_target(entry, folder.lstat(leaf))

    def _check_target(self, entry: EntryRecord, st: os.stat_result | None) -> None:
        if st is None or self._renames(entry):
            return
        name, root = show(entry.name), self.root_path
        if is_link(st):
            raise UnsafePathError(f"refusing to extract {name}: there is a link in its place in {root}")
        if entry.is_dir:
            if not stat.S_ISDIR(st.st_mode):
                raise OverwriteError(f"{name} exists in {root} and is not a folder")
        elif stat.S_ISDIR(st.st_mode):
            raise OverwriteError(f"{name} exists in {root} and is a folder")
        elif not self.overwrite and self.resolutions.get(entry.name) != "replace":
            raise OverwriteError(f"{name} already exists in {root} (allow overwriting to replace it)")

    def _renames(self, entry: EntryRecord) -> bool:
        """Whether a file met at this member's target keeps its name and the member takes another."""
        return not entry.is_dir and self.resolutions.get(entry.name) == "rename"

    def _place_renamed(self, folder: Folder, temp: str, entry: EntryRecord, identity: Identity) -> None:
        """Give the member the first free 'name (N).ext' beside its target: the link that names it
        fails if anything holds that name, so a file that appears meanwhile is never replaced."""
        *parts, leaf = entry.name.split("/")
        for number in itertools.count(2):
            candidate = numbered_name(leaf, number)
            name = "/".join([*parts, candidate])
            self.placed.append(_Placed(name, identity, None))  # first, so a failure after the link undoes it
            if _move_unless_taken(folder, temp, candidate):
                self.renamed[entry.name] = name
                return
            self.placed.pop()

    def make_folder(self, entry: EntryRecord) -> None:
        folder = self.folder(entry.name, entry.name.split("/"), make=True)
        assert folder is not None
        folder.close()

    def begin(self, entry: EntryRecord) -> None:
        """Create the hidden file a member decodes into (O_EXCL and no-follow: never an existing one)."""
        folder = self.folder(entry.name, entry.name.split("/")[:-1], make=True)
        assert folder is not None
        name = _hidden_name()
        try:
            where = folder.identity()
            fd = os.open(folder.at(name), _NEW_FILE, 0o600, dir_fd=folder.fd)
        except BaseException:
            folder.close()
            raise
        self.temp = _Temp(entry, folder, where, name, os.fdopen(fd, "wb"))

    def write(self, data: bytes) -> None:
        assert self.temp is not None
        self.temp.handle.write(data)
        self.temp.crc = zlib.crc32(data, self.temp.crc)

    @property
    def crc(self) -> int:
        """CRC32 of what the member being decoded has so far."""
        assert self.temp is not None
        return self.temp.crc

    def commit(self, *, verify: bool = True) -> float:
        """Verify the decoded member and give it its name; returns when it started, for the timing.

        ``verify`` False: a damaged member salvaged with its lost ranges as zeros, reported elsewhere.
        """
        temp = self.temp
        assert temp is not None
        entry, folder = temp.entry, temp.folder
        if verify:
            verify_entry(entry, temp.crc)
        temp.handle.flush()
        if folder.fd is not None:
            _stamp(temp.handle.fileno(), entry, self.umask)  # before it has its name: never seen half-set
        identity = _identity(os.fstat(temp.handle.fileno()))
        temp.handle.close()
        if folder.fd is None:
            _stamp(folder.at(temp.name), entry, self.umask)
        *parts, leaf = entry.name.split("/")
        again = self.folder(entry.name, parts)  # the name must still lead to the folder decoded into
        moved = again is None
        if again is not None:
            with again:
                moved = again.identity() != temp.where
        if moved:
            raise UnsafePathError(f"refusing to extract {show(entry.name)}: its folder was moved or replaced meanwhile")
        while True:
            st = folder.lstat(leaf)
            if st is not None and self._renames(entry):
                self._place_renamed(folder, temp.name, entry, identity)
                break
            self._check_target(entry, st)  # what appeared while decoding counts as much as what was there
            if st is not None:  # overwriting: keep the original aside until the whole extraction succeeds
                backup = _hidden_name(BACKUP_PREFIX)  # not a temporary: no cleanup may ever delete it
                os.rename(folder.at(leaf), folder.at(backup), src_dir_fd=folder.fd, dst_dir_fd=folder.fd)
                self.placed.append(_Placed(entry.name, identity, backup))
                os.replace(folder.at(temp.name), folder.at(leaf), src_dir_fd=folder.fd, dst_dir_fd=folder.fd)
                break
            self.placed.append(_Placed(entry.name, identity, None))  # first, so a failure after the link undoes it
            if _move_unless_taken(folder, temp.name, leaf):
                break
            self.placed.pop()  # something took the name between the look and the link: look again
        folder.close()
        self.temp = None
        return temp.started

    def rollback(self) -> list[str]:
        """Take back everything this extraction did; returns where originals that could not be put back are."""
        if self.temp is not None:
            temp, self.temp = self.temp, None
            with contextlib.suppress(OSError):
                temp.handle.close()
            with contextlib.suppress(OSError):
                os.unlink(temp.folder.at(temp.name), dir_fd=temp.folder.fd)
            temp.folder.close()
        stranded = []
        for placed in reversed(self.placed):
            try:
                self._undo(placed)
            except (OSError, LMArchiveError):
                if placed.backup is not None:
                    stranded.append(str(self.root_path / placed.member.rpartition("/")[0] / placed.backup))
        for rel, identity in reversed(self.made.items()):
            with contextlib.suppress(OSError, LMArchiveError):
                self._remove_folder(rel, identity)
        for folder in reversed(self.made_above):
            with contextlib.suppress(OSError):
                folder.rmdir()
        return stranded

    def _undo(self, placed: _Placed) -> None:
        *parts, leaf = placed.member.split("/")
        folder = self.folder(placed.member, parts)
        if folder is None:
            raise FileNotFoundError(placed.member)
        with folder:
            if placed.backup is not None:
                os.replace(folder.at(placed.backup), folder.at(leaf), src_dir_fd=folder.fd, dst_dir_fd=folder.fd)
                return
            st = folder.lstat(leaf)
            if st is not None and _identity(st) == placed.identity:  # ours, not something put there since
                os.unlink(folder.at(leaf), dir_fd=folder.fd)

    def _remove_folder(self, rel: str, identity: Identity) -> None:
        *parts, leaf = rel.split("/")
        parent = self.folder(rel, parts)
        if parent is None:
            return
        with parent:
            st = parent.lstat(leaf)
            if st is not None and not is_link(st) and _identity(st) == identity:
                os.rmdir(parent.at(leaf), dir_fd=parent.fd)

    def finish(self, entries: Sequence[EntryRecord]) -> None:
        """After success: delete the originals kept aside, then give the folders this extraction made
        their stored mode and time (after the deletions, which change a folder's time).  Folders
        that were there before are left as they are.  Nothing here may fail the extraction."""
        for placed in self.placed:
            if placed.backup is not None:
                with contextlib.suppress(OSError, LMArchiveError):
                    folder = self.folder(placed.member, placed.member.split("/")[:-1])
                    if folder is not None:
                        with folder:
                            os.unlink(folder.at(placed.backup), dir_fd=folder.fd)
        for entry in entries:
            identity = self.made.get(entry.name)
            if not entry.is_dir or identity is None:
                continue
            with contextlib.suppress(OSError, LMArchiveError):
                folder = self.folder(entry.name, entry.name.split("/"))
                if folder is not None:
                    with folder:
                        if folder.identity() == identity:
                            _stamp(str(folder.path) if folder.fd is None else folder.fd, entry, self.umask)


def _started(cb: ReadCallbacks, entry: EntryRecord) -> None:
    if cb.entry_started is not None:
        cb.entry_started(entry)


def _finished(cb: ReadCallbacks, entry: EntryRecord, seconds: float) -> None:
    if cb.entry_finished is not None:
        cb.entry_finished(entry, seconds)


def extract_entries(
    reader: ContainerReader,
    entries: Sequence[EntryRecord],
    dest: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    keep_going: bool = False,
    resolutions: Mapping[str, Resolution] | None = None,
    callbacks: ReadCallbacks | None = None,
    device: str = "cpu",
) -> list[Path]:
    """Extract ``entries`` under ``dest``: all of them, or (on any failure or cancel) none.

    Every target is checked before anything is written and again when it is written; a file that
    appeared meanwhile is not replaced unless ``overwrite``, and with it the originals are only
    deleted once the whole extraction has succeeded.  Modes are applied as tar does for a user who
    is not root, under the umask and without setuid/setgid; folders that already existed keep theirs.

    ``keep_going``: damaged chunks do not stop the extraction.  Every intact member is written, and a
    damaged one too, with its lost ranges as zero bytes; then DamagedArchiveError names them all.
    Anything else (a conflict, a cancel, a full disk) still takes everything back.

    ``resolutions``: per member whose target exists, "replace" it (as ``overwrite`` does, for that
    member only), "skip" the member, or "rename" it to the first free 'name (2).ext' beside it.
    """
    cb = callbacks or ReadCallbacks()
    resolutions = resolutions or {}
    entries = [e for e in entries if resolutions.get(e.name) != "skip"]
    root = Path(dest).resolve()
    job = _Extraction(root, overwrite=overwrite, resolutions=resolutions)
    found: list[Damage] = []
    try:
        job.open()
        for entry in entries:
            with _naming(entry):
                job.check(entry)
        for entry in entries:
            if entry.chunks:
                continue
            _started(cb, entry)
            with _naming(entry):
                if entry.is_dir:
                    job.make_folder(entry)
                else:
                    job.begin(entry)
                    job.commit()
            _finished(cb, entry, 0.0)
        decode = iter_salvaged_chunks if keep_going else iter_chunks
        decoded = decode(reader, entries, cb, device=device)
        hurt: list[Damage] = []
        for entry, index, data in decoded:
            if index == 0:
                _started(cb, entry)
            with _naming(entry):
                if index == 0:
                    job.begin(entry)
                if isinstance(data, Damage):
                    hurt.append(data)
                    job.write(bytes(data.end - data.start))  # the member keeps its size and layout
                else:
                    job.write(data)
                if index < len(entry.chunks) - 1:
                    continue
                damage = entry_damage(entry, job.crc, hurt) if keep_going else []
                started = job.commit(verify=not damage)
            hurt = []
            if damage:
                found += damage
                if cb.entry_failed is not None:
                    cb.entry_failed(entry, "; ".join(d.describe() for d in damage))
            else:
                _finished(cb, entry, time.monotonic() - started)
    except BaseException as exc:
        stranded = job.rollback()
        job.close()
        if stranded:
            kind = type(exc) if isinstance(exc, LMArchiveError) else ExtractError
            raise kind(f"{exc}; originals that could not be put back are kept as {', '.join(stranded)}") from exc
        raise
    job.finish(entries)
    job.close()
    if found:
        raise damaged_error(found, len(entries))
    return [root / job.renamed.get(entry.name, entry.name) for entry in entries]
