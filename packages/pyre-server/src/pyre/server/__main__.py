"""``python -m pyre.server MODULE:ATTR``: see ``python -m pyre.server --help``."""

from __future__ import annotations

import sys

from ._cli import main as main

if __name__ == "__main__":
    sys.exit(main())
