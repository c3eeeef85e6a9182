"""A local BigQuery emulator (bqemulator) loaded with PhysioNet-layout MIMIC tables, for offline tests.

The server runs from its own venv (see install.sh), bound to 127.0.0.1 only; the real
``google-cloud-bigquery`` client talks to it over REST with anonymous credentials. Used by
``tests/test_bigquery_*.py`` and, as a command line, to point a whole workflow run at it:

    python .ci/bqemulator/emulator.py up VENV DATA_ROOT PIDFILE   # prints the endpoint
    python .ci/bqemulator/emulator.py down PIDFILE
"""

from __future__ import annotations

import gzip
import io
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from mmnar.data.sources import synthetic_layout
from mmnar.data.sources.local import COLUMN_TYPES

PROJECT = "test-project"
DATASETS = {"hosp": "mimiciv_3_1_hosp", "icu": "mimiciv_3_1_icu", "note": "mimiciv_note"}
BIGQUERY_TYPES = {"BIGINT": "INT64", "INTEGER": "INT64", "DOUBLE": "FLOAT64", "VARCHAR": "STRING",
                  "TIMESTAMP": "DATETIME", "DATE": "DATE"}
"""The local source's pinned DuckDB types, as the BigQuery types physionet-data uses."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(venv: Path, log_path: Path, timeout: float = 60.0) -> tuple[subprocess.Popen, str]:
    """Start the emulator on free loopback ports; return the process and its REST endpoint."""
    rest_port, grpc_port = free_port(), free_port()
    env = os.environ | {"HOME": str(Path(venv) / "home")}  # where install.sh put the spatial extension
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [str(Path(venv) / "bin" / "bqemulator"), "start", "--ephemeral", "--project", PROJECT,
             "--rest-host", "127.0.0.1", "--rest-port", str(rest_port),
             "--grpc-host", "127.0.0.1", "--grpc-port", str(grpc_port), "--log-level", "warning"],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    endpoint = f"http://127.0.0.1:{rest_port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"bqemulator exited with {process.returncode}; see {log_path}")
        try:
            urllib.request.urlopen(f"{endpoint}/bigquery/v2/projects/{PROJECT}/datasets", timeout=2)
            return process, endpoint
        except OSError:
            time.sleep(0.2)
    stop(process.pid)
    raise RuntimeError(f"bqemulator did not answer on {endpoint} within {timeout:.0f}s; see {log_path}")


def stop(pid: int) -> None:
    """Stop the server by its pid (its own session, so nothing else is touched)."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(100):
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our child: reaped
                return
        except ChildProcessError:  # started by another process: poll until it is gone
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def client(endpoint: str):
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    return bigquery.Client(project=PROJECT, credentials=AnonymousCredentials(),
                           client_options=ClientOptions(api_endpoint=endpoint))


def load_csv(bq, path: Path, table_id: str) -> None:
    """Load one PhysioNet ``.csv.gz`` with an explicit schema (no type guessing)."""
    from google.cloud import bigquery

    data = gzip.decompress(path.read_bytes())
    header = data.split(b"\n", 1)[0].decode().strip().split(",")
    schema = [bigquery.SchemaField(c, BIGQUERY_TYPES[COLUMN_TYPES.get(c, "VARCHAR")]) for c in header]
    config = bigquery.LoadJobConfig(schema=schema, source_format="CSV", skip_leading_rows=1,
                                    allow_quoted_newlines=True)
    bq.load_table_from_file(io.BytesIO(data), table_id, job_config=config).result()


def load_physionet(endpoint: str, mimiciv: Path, note: Path | None) -> dict[str, str]:
    """Load ``hosp``, ``icu`` (and ``note``) tables; return the ``bigquery.datasets`` mapping."""
    bq = client(endpoint)
    folders = {"hosp": Path(mimiciv) / "hosp", "icu": Path(mimiciv) / "icu"}
    if note:
        folders["note"] = Path(note) / "note"
    for short, folder in folders.items():
        dataset = f"{PROJECT}.{DATASETS[short]}"
        bq.create_dataset(dataset, exists_ok=True)
        for path in sorted(folder.glob("*.csv.gz")):
            load_csv(bq, path, f"{dataset}.{path.name.removesuffix('.csv.gz')}")
    return {short: f"{PROJECT}.{DATASETS[short]}" for short in folders}


def main(argv: list[str]) -> None:
    if argv[:1] == ["up"] and len(argv) == 4:
        venv, root, pidfile = map(Path, argv[1:])
        process, endpoint = start(venv, pidfile.with_suffix(".log"))
        pidfile.write_text(str(process.pid))
        layout = synthetic_layout(root)
        load_physionet(endpoint, layout["mimiciv"], layout["note"])
        print(endpoint)
    elif argv[:1] == ["down"] and len(argv) == 2:
        stop(int(Path(argv[1]).read_text()))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
