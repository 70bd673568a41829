"""Keep the packaging smoke test out of the default run: it builds the whole app (many minutes).

It runs when asked for by marker (``pytest -m packaging``, as ``packaging/smoke.sh`` does) or by
``LMARCHIVE_PACKAGING_TESTS=1``; otherwise each ``packaging`` test is skipped with that hint, so
``./test.sh`` and CI never build installers.
"""

from __future__ import annotations

import os

import pytest

ENV = "LMARCHIVE_PACKAGING_TESTS"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "packaging" in (config.option.markexpr or "") or os.environ.get(ENV) == "1":
        return
    skip = pytest.mark.skip(reason=f"packaging smoke test: run packaging/smoke.sh (or pytest -m packaging, or {ENV}=1)")
    for item in items:
        if item.get_closest_marker("packaging") is not None:
            item.add_marker(skip)
