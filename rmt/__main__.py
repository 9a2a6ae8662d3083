"""``python -m rmt ...``: the ``rmt`` command, where its script is not on ``PATH``."""

import sys

from .cli import main

if __name__ == "__main__":      # not when imported (tools that walk the package import it)
    sys.exit(main())
