"""``lmarchive-gui [PATH...]`` and ``python -m lmarchive_gui``: start the window, or hand PATHs to the running one.

Qt is imported inside :func:`main`, not at the top: the worker process is spawned, and spawn
re-imports the main module in the child, which must stay free of Qt.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import signal
import sys
import time
from collections.abc import Callable
from logging.handlers import RotatingFileHandler
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from lmarchive_gui import APP_NAME

if TYPE_CHECKING:
    from lmarchive_gui.main_window import MainWindow

log = logging.getLogger("lmarchive_gui")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="lmarchive-gui",
        description=f"{APP_NAME}: open an .lmz archive, or start a new one with the given files and folders.",
    )
    parser.add_argument("paths", metavar="PATH", nargs="*", help="an archive to open, or files to archive")
    what = parser.add_mutually_exclusive_group()
    what.add_argument(
        "--compress",
        action="store_true",
        help="make a new archive of the PATHs, even of one that is an archive (asks where to save it): the file "
        "manager's 'Compress with LM Archive'",
    )
    what.add_argument(
        "--extract-here",
        action="store_true",
        help="extract each archive PATH into a new folder named after it, beside it, then quit (asks for an archive "
        "when none is given): the file manager's 'Extract Here'",
    )
    parser.add_argument(
        "--report-open",
        metavar="FILE",
        type=Path,
        help="open the PATHs in a window of its own (never handing them to a running one), write what the "
        "window then shows to FILE as JSON, and quit: how packaging checks prove a built app opens archives",
    )
    return parser.parse_args(argv)


def write_open_report(window: MainWindow, report: Path) -> None:
    """What the window shows after opening its command-line paths: the archive, its entries, any error boxes."""
    from PySide6.QtWidgets import QMessageBox

    data = {
        "archive": None if window.archive is None else str(window.archive),
        "entries": window.model.names(),
        "errors": [box.text() for box in window.findChildren(QMessageBox) if box.isVisible()],
        "written_at": time.time(),
    }
    report.write_text(json.dumps(data, indent=1), encoding="utf-8")


def compress(window: MainWindow, paths: list[str]) -> None:
    """--compress: the new-archive flow for ``paths`` (just a new, empty archive without any)."""
    if paths:
        window.new_archive_with(paths)
    else:
        window.new_archive()


def extract_here(window: MainWindow, archives: list[str], done: Callable[[], None]) -> None:
    """--extract-here: each archive into a new folder named after it, beside it, one after the other (whatever
    the extraction folder in the settings: 'here' is the archive's folder); then ``done``, once every error box
    the window showed on the way has been closed, so a failure is read before the window goes."""
    from PySide6.QtWidgets import QMessageBox

    from lmarchive_gui.extract_dialogs import new_folder

    if not archives:
        chosen = window.ask_open_path()
        archives = [chosen] if chosen else []
    queue = [Path(a).absolute() for a in archives]

    def finish() -> None:
        window.job_done.disconnect(next_one)
        boxes = [box for box in window.findChildren(QMessageBox) if box.isVisible()]
        if not boxes:
            done()
            return
        for box in boxes:
            box.finished.connect(lambda _result: None if any(b.isVisible() for b in boxes) else done())

    def next_one(_outcome: object = None) -> None:
        while queue:
            archive = queue.pop(0)
            if window.open_archive(archive):
                window.extract_to(new_folder(archive.parent, archive.stem))
                return  # the job's end calls this again
        finish()

    window.job_done.connect(next_one)
    next_one()


def setup_logging() -> Path | None:
    """Log to a rotating file in the platform's log folder; the GUI itself shows one-line messages only."""
    from lmarchive_gui.settings import log_dir

    folder = log_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = RotatingFileHandler(folder / "gui.log", maxBytes=1 << 20, backupCount=3)
    except OSError:
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return folder / "gui.log"


def quit_on_signals(window: MainWindow) -> None:
    """Ctrl+C in a terminal, or the session's SIGTERM, quits without questions, stopping the worker first.

    Python runs signal handlers only between bytecodes, so a timer hands it control now and then.
    """
    from PySide6.QtCore import QCoreApplication, QTimer

    def stop(_signum: int, _frame: object) -> None:
        window.shutdown()
        QCoreApplication.exit(0)

    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, stop)
    timer = QTimer(window)
    timer.timeout.connect(lambda: None)
    timer.start(300)


def main(argv: list[str] | None = None) -> int:
    multiprocessing.freeze_support()  # the frozen app starts its worker through this executable
    args = parse_args(sys.argv[1:] if argv is None else argv)
    paths = [str(Path(p).absolute()) for p in args.paths]

    from PySide6.QtCore import QCoreApplication, QTimer

    from lmarchive_gui.application import ArchiveApplication
    from lmarchive_gui.main_window import MainWindow
    from lmarchive_gui.settings import SettingsStore
    from lmarchive_gui.single_instance import InstanceServer, send_paths, server_name
    from lmarchive_gui.worker import ProcessWorker

    app = ArchiveApplication(sys.argv[:1])
    server: InstanceServer | None = None
    if args.report_open is None and not (args.compress or args.extract_here):  # a command of its own, not "open"
        name = server_name()
        if send_paths(name, paths):
            return 0
        server = InstanceServer(name)
        if not server.listen() and send_paths(name, paths):  # another instance started just now
            return 0
    log_file = setup_logging()
    log.info("starting; log file %s", log_file)

    store = SettingsStore()
    worker = ProcessWorker(threads=store.load().threads)
    window = MainWindow(store, worker)

    def excepthook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        """A bug in a slot: log the traceback, show the user one line."""
        log.error("unexpected error", exc_info=(kind, exc, tb))
        window.show_error("Unexpected error", f"{kind.__name__}: {exc} (details are in the log)")

    sys.excepthook = excepthook
    if server is not None:
        server.paths_received.connect(window.open_from_os)
    app.aboutToQuit.connect(window.shutdown)
    quit_on_signals(window)
    window.show()

    def open_command_line() -> None:
        if args.extract_here:
            extract_here(window, paths, app.quit)
            return
        if args.compress:
            compress(window, paths)
        elif paths:
            window.open_from_os(paths)
        app.open_files_with(window.open_from_os)  # macOS file-open events, including any that came first
        if args.report_open is not None:
            QCoreApplication.processEvents()  # let the window paint what it opened
            write_open_report(window, args.report_open)
            app.quit()

    QTimer.singleShot(0, open_command_line)
    status = app.exec()
    if server is not None:
        server.close()
    return status


if __name__ == "__main__":
    sys.exit(main())
