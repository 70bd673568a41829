"""Take the README's screenshots of the desktop app in a real X window: docs/screenshots/*.png.

    .venv/bin/python scripts/screenshots.py [--corpus DIR] [--out DIR]

Without a $DISPLAY it starts its own Xvfb (``apt-get install xvfb``) at 1280x800.  It builds an
archive of the Canterbury corpus through the real worker process, catching the progress panel
mid-job, then shows the finished archive, the Settings dialog and the About dialog.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus" / "canterbury"
SCREEN = "1280x800x24"


@contextlib.contextmanager
def display() -> Iterator[None]:
    """Use the current X display, or run a private Xvfb for the duration."""
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        yield
        return
    if shutil.which("Xvfb") is None:
        sys.exit("no display and no Xvfb: install it (apt-get install xvfb) or run under one")
    read, write = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", SCREEN, "-nolisten", "tcp"],
        pass_fds=(write,),
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    os.environ["DISPLAY"] = f":{number}"
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    try:
        yield
    finally:
        server.terminate()
        server.wait(5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="folder to archive (default: Canterbury)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots", help="where the PNGs go")
    args = parser.parse_args()
    with display(), tempfile.TemporaryDirectory(prefix="lmarchive-shots-") as tmp:
        os.environ["XDG_CONFIG_HOME"] = str(Path(tmp, "config"))  # default settings, no recent list
        os.environ["XDG_STATE_HOME"] = str(Path(tmp, "state"))
        return take(args.corpus.resolve(), args.out, Path(tmp))


def take(corpus: Path, out: Path, tmp: Path) -> int:
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QWidget

    from lmarchive_gui.application import ArchiveApplication
    from lmarchive_gui.entry_model import Column
    from lmarchive_gui.main_window import MainWindow
    from lmarchive_gui.settings import SettingsStore
    from lmarchive_gui.settings_dialog import SettingsDialog
    from lmarchive_gui.worker import ProcessWorker

    app = ArchiveApplication(sys.argv[:1])
    out.mkdir(parents=True, exist_ok=True)

    def wait_until(condition: Callable[[], bool], timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError("the app did not get there in time")
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)

    def settle(seconds: float = 0.5) -> None:
        loop = QEventLoop()
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()

    def shoot(widget: QWidget, name: str) -> None:
        settle()
        path = out / f"{name}.png"
        if not widget.grab().save(str(path)):
            raise OSError(f"could not write {path}")
        print(f"wrote {path}")

    window = MainWindow(SettingsStore(), ProcessWorker())
    window.resize(1180, 720)
    window.show()
    shoot(window, "empty")

    archive = tmp / f"{corpus.name}.lmz"
    window.ask_new_archive_path = lambda default: str(archive)  # type: ignore[method-assign]
    window.new_archive_with([str(corpus)])
    wait_until(lambda: window.progress.overall.value() >= 350 and window.model.rowCount() > 0)
    shoot(window, "progress")
    wait_until(lambda: not window.worker.busy)
    window.view.sortByColumn(Column.RATIO, window.view.header().sortIndicatorOrder().AscendingOrder)
    window.view.setCurrentIndex(window.proxy.index(2, 0, window.proxy.index(0, 0)))  # the third entry in the folder
    shoot(window, "main")

    settings = SettingsDialog(window.settings, window)
    settings.show()
    shoot(settings, "settings")
    settings.close()

    about = window.show_about()
    wait_until(lambda: about.selftest_button.isEnabled())  # the worker has loaded the model
    about.selftest_button.click()
    wait_until(lambda: about.selftest_button.isEnabled())
    shoot(about, "about")

    window.close()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
