"""``python -m data_pipeline.nnunet_export``: write a cohort as an nnU-Net v2 raw dataset."""

import sys

from data_pipeline.io.nnunet_export import main

if __name__ == "__main__":
    sys.exit(main())
