"""Ray job entrypoint: `python -m jobs.evaluate` = `irp evaluate`; see pipeline/jobs/evaluate/."""

import sys

from pipeline.jobs.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
