"""``python -m platform.report``: rebuild a finished sweep's tables and figures from MLflow."""

import sys

from platform.report.rebuild import main

if __name__ == "__main__":
    sys.exit(main())
