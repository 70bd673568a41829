"""The library is GUI-free: nothing under lmarchive/ imports Qt, by its source or at run time."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import lmarchive

PACKAGE = Path(lmarchive.__file__).resolve().parent
QT_ROOTS = frozenset({"PySide6", "PySide2", "PyQt6", "PyQt5", "PyQt4", "shiboken6", "shiboken2", "qtpy"})
DYNAMIC_IMPORTERS = frozenset({"import_module", "__import__"})


def qt_imports(source: str) -> list[tuple[int, str]]:
    """(line, module) for every Qt module the source imports, statically or by a literal dynamic import."""
    found = []
    for node in ast.walk(ast.parse(source)):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module]
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in DYNAMIC_IMPORTERS and node.args and isinstance(node.args[0], ast.Constant):
                modules = [str(node.args[0].value)]
        found += [(node.lineno, m) for m in modules if m.split(".")[0] in QT_ROOTS]
    return found


def test_the_scan_sees_every_spelling_of_a_qt_import() -> None:
    source = (
        "import os, PySide6\n"
        "from PyQt6.QtCore import Qt\n"
        "import importlib\n"
        "importlib.import_module('shiboken6')\n"
        "__import__('PyQt5.QtWidgets')\n"
        "def f():\n"
        "    import PySide6.QtGui as gui\n"
        "from . import PySide6_like\n"
        "import pyside6_helpers\n"
    )
    assert qt_imports(source) == [
        (1, "PySide6"),
        (2, "PyQt6.QtCore"),
        (4, "shiboken6"),
        (5, "PyQt5.QtWidgets"),
        (7, "PySide6.QtGui"),
    ]


def test_no_module_under_the_package_imports_qt() -> None:
    sources = sorted(PACKAGE.rglob("*.py"))
    assert PACKAGE / "archive.py" in sources
    assert PACKAGE / "models" / "context.py" in sources
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {module}"
        for path in sources
        for line, module in qt_imports(path.read_text(encoding="utf-8"))
    ]
    assert found == []


def test_importing_the_library_loads_no_qt() -> None:
    plain = "import lmarchive, sys; assert not any(m.startswith(('PySide6','PyQt')) for m in sys.modules)"
    result = subprocess.run([sys.executable, "-c", plain], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_importing_every_module_loads_no_qt() -> None:
    code = (
        "import importlib, pkgutil, sys, lmarchive\n"
        "names = [i.name for i in pkgutil.walk_packages(lmarchive.__path__, 'lmarchive.')\n"
        "         if not i.name.endswith('__main__')]\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        "assert 'lmarchive.jobs' in sys.modules and 'lmarchive.models.context' in sys.modules, names\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in "
        f"{sorted(QT_ROOTS)!r})\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
