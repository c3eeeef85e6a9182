"""Send a job's log records and uncaught errors to its Snakemake log file."""

from __future__ import annotations

import logging
import sys
from pathlib import Path


def to_file(path: str | Path) -> None:
    """Log INFO and above to ``path`` and stderr; Snakemake keeps one log file per job.

    An uncaught exception is logged too, traceback included, so a failed job's own log says why it
    failed (Snakemake shows only the console otherwise). Messages of the package's errors never hold
    patient data (see ``mmnar.sources.local.source_error``).
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    handlers = [logging.FileHandler(path, mode="w"), logging.StreamHandler(sys.stderr)]
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.captureWarnings(True)

    def log_uncaught(kind, error, traceback) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, error, traceback)
            return
        logging.getLogger("job").critical("job failed: %s: %s", kind.__name__, error,
                                          exc_info=(kind, error, traceback))

    sys.excepthook = log_uncaught
