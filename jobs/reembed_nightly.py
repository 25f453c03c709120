"""The nightly re-embedding job under the name schedulers submit: `python -m jobs.reembed_nightly` = `irp sync`."""

import sys

from pipeline.jobs.sync import main

if __name__ == "__main__":
    sys.exit(main())
