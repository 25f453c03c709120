"""Ray job entrypoint: `python -m jobs.benchmark` = `irp benchmark`; see pipeline/jobs/benchmark/."""

import sys

from pipeline.jobs.benchmark import main

if __name__ == "__main__":
    sys.exit(main())
