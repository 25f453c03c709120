"""Ray job entrypoint: `python -m jobs.translate_corpus` = `irp translate_corpus`; see pipeline/jobs/."""

import sys

from pipeline.jobs.translate_corpus import main

if __name__ == "__main__":
    sys.exit(main())
