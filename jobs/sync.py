"""Ray job entrypoint: `python -m jobs.sync` = `irp sync`; see pipeline/jobs/sync/."""

import sys

from pipeline.jobs.sync import main

if __name__ == "__main__":
    sys.exit(main())
