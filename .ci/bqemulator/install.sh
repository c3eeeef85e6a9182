#!/usr/bin/env bash
# Build the BigQuery emulator's own virtualenv at $1 (it pins a DuckDB and sqlglot of its own, so
# it never shares the project's venv). Idempotent: returns at once when the venv is complete.
# The spatial extension is copied into the venv's private HOME so DuckDB never downloads it.
set -euo pipefail

venv="${1:?usage: install.sh VENV_DIR}"
ext_dir="$venv/home/.duckdb/extensions/v1.5.5/linux_amd64"
[ -x "$venv/bin/bqemulator" ] && [ -f "$ext_dir/spatial.duckdb_extension" ] && exit 0

python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check \
    bqemulator==1.4.0 duckdb==1.5.5 duckdb-extension-spatial==1.5.5 numpy==2.4.6
mkdir -p "$ext_dir"
cp "$("$venv/bin/python" -c 'import duckdb_extension_spatial as m, pathlib; print(pathlib.Path(m.__file__).parent)')/extensions/v1.5.5/spatial.duckdb_extension" "$ext_dir/"
