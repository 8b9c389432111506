"""``python -m data_pipeline.inspect COHORT``: check every case of a cohort and summarise."""

import sys

from data_pipeline.cohort.inspect import main

if __name__ == "__main__":
    sys.exit(main())
