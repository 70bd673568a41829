"""The jobs that write an archive, started from the window: create, add, delete, and salvage.

Items whose names are already members are asked about before anything is written (Replace, or
Skip them and add the rest); a new archive is proposed beside its items, under a name nothing has
yet; a salvaged copy goes beside the damaged archive.  This module also tells what a path given to
open is: an .lmz is opened, and another archiver's file is not archived unasked.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import lmarchive
from lmarchive.codec import ChunkPlan
from lmarchive.errors import LMArchiveError
from lmarchive.jobs import SMALLEST_MAX_CHUNK, AddJob, CreateJob, DeleteJob
from lmarchive.writing import collect_tree, default_arcname
from lmarchive_gui.formatting import size_text
from lmarchive_gui.job_controller import JobController
from lmarchive_gui.progress_panel import entries_text
from lmarchive_gui.questions import SKIP
from lmarchive_gui.settings import Settings
from lmarchive_gui.worker_process import JobOutcome, Salvage

OTHER_ARCHIVE_SUFFIXES = frozenset(
    ".zip .7z .rar .tar .tgz .tbz2 .txz .gz .bz2 .xz .zst .lz .lz4 .lzma .cab .arj .lzh .iso".split()
)
"""Names of other archivers' files: given one of these to open, LM Archive asks before compressing it."""


def chunk_plan(chunk_kib: int) -> ChunkPlan | None:
    """The Settings' largest chunk as a core plan (None for 0: the model's own); the smallest stays at
    the core's floor unless that is larger."""
    if not chunk_kib:
        return None
    largest = chunk_kib * 1024
    return ChunkPlan(min_size=min(SMALLEST_MAX_CHUNK, largest), max_size=largest)


def unique_path(path: Path) -> Path:
    """``path``, or 'name 2.ext', 'name 3.ext'... if it exists: never propose to replace something."""
    if not path.exists():
        return path
    for number in itertools.count(2):
        candidate = path.with_name(f"{path.stem} {number}{path.suffix}")
        if not candidate.exists():
            return candidate
    raise AssertionError("unreachable")


def default_archive_path(items: Sequence[Path]) -> Path:
    """Beside the items.  One is named after itself: 'report.txt' or 'report/' -> 'report.lmz'.  Several
    are named after the folder they are in, as Ark does ('photos/a.jpg', 'photos/b.jpg' -> 'photos.lmz'):
    the first item's name would say the archive holds only that; 'Archive.lmz' when they come from
    different folders or the top of a drive."""
    first = items[0]
    if len(items) == 1:
        stem = first.stem if first.is_file() else first.name
    else:
        parents = {item.parent for item in items}
        stem = first.parent.name if len(parents) == 1 else ""
    return unique_path(first.parent / f"{stem or 'Archive'}.lmz")


def looks_like_archive(path: Path) -> bool:
    """An .lmz by name or by its magic; a damaged .lmz is opened (and reported), not archived."""
    return path.is_file() and (path.suffix.lower() == ".lmz" or lmarchive.is_lmzfile(path))


def other_archive(path: Path) -> bool:
    """A file of another archiver, by its name (as file managers tell what opens a file)."""
    return path.is_file() and path.suffix.lower() in OTHER_ARCHIVE_SUFFIXES


@dataclass(frozen=True)
class Overlap:
    """How items about to be added meet the members already in the archive."""

    replaced: list[str]
    """Members an item would replace: files, and anything whose type differs (folders merge)."""
    existing: list[str]
    """Every name the items have that is already a member, folders too: what Skip leaves as it is."""
    adds_new: bool
    """Whether any item has a name that is not a member yet."""


def overlap(paths: Sequence[str], members: dict[str, bool]) -> Overlap | None:
    """How ``paths`` meet ``members`` (name -> whether a folder); None when the paths cannot be read,
    which the job then reports.  Only items whose names are already members are walked, so adding a
    large new folder costs nothing here."""
    tops = {name.split("/", 1)[0] for name in members}
    existing: list[tuple[str, bool]] = []
    adds_new = False
    try:
        for given in paths:
            path = Path(given)
            top = default_arcname(path)
            if top not in tops:
                adds_new = True
                continue
            for source in collect_tree(path, top):
                if source.arcname in members:
                    existing.append((source.arcname, source.is_dir))
                else:
                    adds_new = True
    except (LMArchiveError, OSError):
        return None
    replaced = [name for name, is_dir in existing if not (is_dir and members[name])]
    return Overlap(replaced, [name for name, _ in existing], adds_new)


class WritingWindow(Protocol):
    """What the writing jobs need of the main window."""

    archive: Path | None
    settings: Settings

    def ask_new_archive_path(self, default: Path) -> str | None: ...
    def ask_add_files(self) -> list[str]: ...
    def ask_add_folder(self) -> str | None: ...
    def ask_replace(self, names: list[str]) -> str | None: ...
    def ask_delete(self, names: list[str]) -> bool: ...
    def ask_salvage_path(self, default: Path) -> str | None: ...
    def say(self, text: str) -> None: ...
    def start_folder(self) -> str: ...
    def open_archive(self, path: str | Path) -> bool: ...
    def apply_settings(self, settings: Settings) -> None: ...
    def member_folders(self) -> dict[str, bool]: ...
    def show_new_archive(self, target: Path) -> None: ...


class WriteFlow:
    """Creates, adds to, deletes from and salvages archives, asking the window's questions; ``selection``
    gives the members selected in its view."""

    def __init__(self, window: WritingWindow, jobs: JobController, selection: Callable[[], list[str]]) -> None:
        self._window = window
        self._jobs = jobs
        self._selection = selection

    def new_archive(self) -> None:
        target = self._window.ask_new_archive_path(unique_path(Path(self._window.start_folder()) / "Archive.lmz"))
        if target:
            self._create(Path(target), [])

    def new_archive_with(self, paths: Sequence[str]) -> None:
        target = self._window.ask_new_archive_path(default_archive_path([Path(p).absolute() for p in paths]))
        if target:
            self._create(Path(target), paths)

    def _create(self, target: Path, paths: Sequence[str]) -> None:
        if target.suffix.lower() != ".lmz":
            target = target.with_name(target.name + ".lmz")
        target = target.absolute()
        if not self._jobs.check_idle():
            return
        before = self._window.archive
        self._window.show_new_archive(target)
        settings = self._window.settings
        self._jobs.submit(
            CreateJob(
                archive=str(target),
                paths=tuple(paths),
                model=settings.model,
                overwrite=True,
                plan=chunk_plan(settings.chunk_kib),
            ),
            on_success=self._created,
            restore=before,
        )

    def _created(self, outcome: JobOutcome) -> None:
        window = self._window
        if window.archive is not None:
            window.apply_settings(window.settings.with_recent(window.archive))
        self._say_done("Created", outcome)

    def add_files(self) -> None:
        paths = self._window.ask_add_files()
        if paths:
            self.add_paths(paths)

    def add_folder(self) -> None:
        folder = self._window.ask_add_folder()
        if folder:
            self.add_paths([folder])

    def add_paths(self, paths: Sequence[str]) -> None:
        """Add to the open archive (asking first if that would replace entries), or, with none open,
        make a new one (asking where)."""
        window = self._window
        if window.archive is None:
            if len(paths) == 1 and looks_like_archive(Path(paths[0])):
                window.open_archive(paths[0])
            else:
                self.new_archive_with(paths)
            return
        keep: tuple[str, ...] = ()
        meets = overlap(paths, window.member_folders())
        if meets is not None and meets.replaced:
            answer = window.ask_replace(meets.replaced)
            if answer is None:
                window.say("Nothing was added")
                return
            if answer == SKIP:
                if not meets.adds_new:
                    window.say("Nothing was added: every item is already in the archive")
                    return
                keep = tuple(meets.existing)
        self._jobs.submit(
            AddJob(
                archive=str(window.archive),
                paths=tuple(paths),
                model=window.settings.model,
                plan=chunk_plan(window.settings.chunk_kib),
                keep=keep,
            ),
            on_success=lambda o: self._say_done("Added", o),
        )

    def _say_done(self, verb: str, outcome: JobOutcome) -> None:
        done = outcome.finished
        sizes = f"{size_text(done.size)} → {size_text(done.packed)}" if done.size else "no data"
        self._window.say(f"{verb} {entries_text(done.entries)} ({sizes}) in {done.seconds:.1f} s")

    def delete_selected(self) -> None:
        """Remove the selected members (folders with everything below them), once the user agrees."""
        window = self._window
        names = self._selection()
        if window.archive is None or not names or not window.ask_delete(names):
            return
        count = len(names)
        self._jobs.submit(
            DeleteJob(archive=str(window.archive), members=tuple(names)),
            on_success=lambda _o: window.say(f"Deleted {entries_text(count)}"),
        )

    def salvage(self, broken: Path) -> None:
        """Rebuild ``broken`` from its recovery records into '<stem>-salvaged.lmz' beside it (asking where
        if that exists), in the worker, and open the result."""
        window = self._window
        output = broken.with_name(f"{broken.stem}-salvaged.lmz")
        if output.exists():
            chosen = window.ask_salvage_path(unique_path(output))
            if not chosen:
                window.say("Salvage cancelled")
                return
            output = Path(chosen).absolute()
            if output.suffix.lower() != ".lmz":
                output = output.with_name(output.name + ".lmz")

        def salvaged(outcome: JobOutcome) -> None:
            if window.open_archive(output):
                dropped = f"; {len(outcome.detail.splitlines())} damaged records left out" if outcome.detail else ""
                window.say(
                    f"Salvaged {entries_text(outcome.finished.entries)} from {broken.name} into {output.name}"
                    f"{dropped}: test it to check every member"
                )

        # Overwrite: the user chose that name in a save dialog, which has asked about replacing it.
        self._jobs.submit(Salvage(str(broken), str(output), overwrite=output.exists()), on_success=salvaged)
