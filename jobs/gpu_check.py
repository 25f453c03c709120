"""Ray job entrypoint: `python -m jobs.gpu_check` = `irp gpu_check`; see pipeline/jobs/gpu_check/."""

import sys

from pipeline.jobs.gpu_check import main

if __name__ == "__main__":
    sys.exit(main())
