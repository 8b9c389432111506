"""``python -m data_pipeline.synthetic OUT``: write a synthetic DICOM cohort."""

import sys

from data_pipeline.synthetic.generator import main

if __name__ == "__main__":
    sys.exit(main())
