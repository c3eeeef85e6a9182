#!/usr/bin/env bash
# Build the BigQuery emulator's own virtualenv at $1 (it pins a DuckDB and sqlglot of its own, so
# it never shares the project's venv). Idempotent: returns at once when the venv is complete.
# The DuckDB extensions the emulator loads (spatial, avro) come as wheels and are copied into the
# venv's private HOME, so the server never tries to download them (CI runs offline).
set -euo pipefail

venv="${1:?usage: install.sh VENV_DIR}"
duckdb=1.5.5
ext_dir="$venv/home/.duckdb/extensions/v$duckdb/linux_amd64"
extensions=(spatial avro)
complete=1
[ -x "$venv/bin/bqemulator" ] || complete=0
for ext in "${extensions[@]}"; do [ -f "$ext_dir/$ext.duckdb_extension" ] || complete=0; done
[ "$complete" = 1 ] && exit 0

python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check \
    bqemulator==1.4.0 "duckdb==$duckdb" numpy==2.4.6 \
    $(printf "duckdb-extension-%s==$duckdb " "${extensions[@]}")
mkdir -p "$ext_dir"
for ext in "${extensions[@]}"; do
    cp "$("$venv/bin/python" -c "import duckdb_extension_$ext as m, pathlib; print(pathlib.Path(m.__file__).parent)")/extensions/v$duckdb/$ext.duckdb_extension" "$ext_dir/"
done
