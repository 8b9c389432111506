"""``python -m platform.sweep SWEEP.yaml [key=value ...]``: run a sweep (see :mod:`platform.sweep.run`)."""

import sys

from platform.sweep.run import main

if __name__ == "__main__":
    sys.exit(main())
