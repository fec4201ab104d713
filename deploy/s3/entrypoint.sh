#!/bin/sh
# One identity, with the keys of deploy/stack.env: any other key is refused. All of SeaweedFS (master,
# volume, filer, S3 gateway) runs in this one process and reaches itself on 127.0.0.1. Only the S3 port
# (8333) is published; the others are open only on the stack's backend network (PostgreSQL and MLflow).
# The buckets are created if missing.
set -eu
: "${S3_ACCESS_KEY:?is not set (deploy/stack.env)}" "${S3_SECRET_KEY:?is not set (deploy/stack.env)}"
umask 077
cat > /tmp/s3.json <<JSON
{"identities": [{"name": "team", "credentials": [{"accessKey": "$S3_ACCESS_KEY", "secretKey": "$S3_SECRET_KEY"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
JSON
exec weed mini -dir=/data -ip=127.0.0.1 -ip.bind=0.0.0.0 -filer.disableDirListing \
  -admin.ui=false -webdav=false -s3.port.iceberg=0 -s3.port.lance=0 \
  -s3.config=/tmp/s3.json -bucket="${S3_BUCKETS:-mlflow,dvc}"
