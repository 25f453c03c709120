"""Ray job entrypoint: `python -m jobs.demo` = `irp demo`; see pipeline/jobs/demo/."""

import sys

from pipeline.jobs.demo import main

if __name__ == "__main__":
    sys.exit(main())
