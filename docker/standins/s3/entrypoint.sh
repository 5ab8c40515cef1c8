#!/bin/sh
# RustFS's settings mapped onto `weed mini`: one process with master, volume, filer and the S3 gateway.
set -eu
: "${RUSTFS_ACCESS_KEY:?RUSTFS_ACCESS_KEY must be set}"
: "${RUSTFS_SECRET_KEY:?RUSTFS_SECRET_KEY must be set}"
data=${RUSTFS_VOLUMES:-/data}
port=${RUSTFS_ADDRESS:-:9000}
mkdir -p "$data"
# weed mini creates its admin identity from these on start-up.
export AWS_ACCESS_KEY_ID="$RUSTFS_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$RUSTFS_SECRET_KEY"
unset RUSTFS_ACCESS_KEY RUSTFS_SECRET_KEY
# Every other role's key and rights (S3_IDENTITIES, base64 JSON): given on every start, since weed mini
# otherwise reuses the flags it saved in its data directory.
identities=/tmp/s3-identities.json
(umask 077 && printf %s "${S3_IDENTITIES:-}" | base64 -d > "$identities")
unset S3_IDENTITIES
[ -s "$identities" ] || echo '{"identities": []}' > "$identities"
exec weed mini -dir="$data" -ip=127.0.0.1 -ip.bind=0.0.0.0 -master.telemetry=false \
  -s3.port="${port##*:}" -s3.port.iceberg=0 -s3.port.lance=0 -webdav=false -admin.ui=false \
  -s3.config="$identities"
