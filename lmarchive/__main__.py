"""``python -m lmarchive``: the same command as the ``lmarchive`` script, for environments without it."""

import sys

from lmarchive.cli import main

if __name__ == "__main__":
    sys.exit(main())
