"""``python -m platform.predict``: segment a new patient with a trained trial or a fold ensemble."""

import sys

from platform.postprocessing.predict import main

if __name__ == "__main__":
    sys.exit(main())
