"""``python -m platform.interchange``: write nnU-Net / Auto3DSeg files for a sweep's folds."""

import sys

from platform.evaluation.nnunet import main

if __name__ == "__main__":
    sys.exit(main())
