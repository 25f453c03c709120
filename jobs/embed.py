"""Ray job entrypoint: `python -m jobs.embed` = `irp embed`; see pipeline/jobs/embed/."""

import sys

from pipeline.jobs.embed import main

if __name__ == "__main__":
    sys.exit(main())
