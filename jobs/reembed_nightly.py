"""Ray job entrypoint: `python -m jobs.reembed_nightly` = `irp sync`; see pipeline/jobs/."""

import sys

from pipeline.jobs.reembed_nightly import main

if __name__ == "__main__":
    sys.exit(main())
