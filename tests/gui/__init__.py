"""GUI tests (pytest-qt, offscreen).

A package, so this folder's conftest is imported as ``gui.conftest`` and never replaces the
top-level ``conftest`` module that the core tests import helpers from.
"""
