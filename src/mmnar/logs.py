"""Send a job's log records and uncaught errors to its Snakemake log file."""

from __future__ import annotations

import logging
import sys
from pathlib import Path


def to_file(path: str | Path) -> None:
    """Log INFO and above to ``path`` and stderr; Snakemake keeps one log file per job.

    An uncaught exception is logged too, traceback included, so a failed job's own log says why it
    failed (Snakemake shows only the console otherwise). Messages of the package's errors never hold
    patient data (see ``mmnar.data.sources.local.source_error``).
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    file_handler = logging.FileHandler(path, mode="w")
    logging.basicConfig(level=logging.INFO, handlers=[file_handler, logging.StreamHandler(sys.stderr)], force=True,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.captureWarnings(True)

    def log_uncaught(kind, error, traceback) -> None:
        """Traceback to the job's log file; one line to the console (which Snakemake repeats)."""
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, error, traceback)
            return
        record = logging.getLogger("job").makeRecord("job", logging.CRITICAL, __file__, 0, "job failed: %s: %s",
                                                     (kind.__name__, error), (kind, error, traceback))
        file_handler.handle(record)
        print(f"{kind.__name__}: {error} (traceback in {path})", file=sys.stderr)

    sys.excepthook = log_uncaught
