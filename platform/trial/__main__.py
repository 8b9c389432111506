"""``python -m platform.trial``: run one trial without Ray (see :mod:`platform.trial.run`)."""

import sys

from platform.trial.run import main

if __name__ == "__main__":
    sys.exit(main())
