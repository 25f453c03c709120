"""Ray job entrypoint under the design card's name: `python -m jobs.reembed_nightly` = `irp sync`."""

import sys

from pipeline.jobs.sync import main

if __name__ == "__main__":
    sys.exit(main())
