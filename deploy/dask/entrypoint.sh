#!/bin/sh
# The stack's Dask TLS key and certificate come base64-encoded in the environment (from deploy/stack.env);
# written to files only this user reads, they become Dask's configuration: every connection to the
# scheduler and between workers is TLS, and only a peer holding this key and certificate is let in.
set -eu
: "${DASK_TLS_KEY:?the stack's Dask TLS key is missing (deploy/stack.env)}"
: "${DASK_TLS_CERT:?the stack's Dask TLS certificate is missing (deploy/stack.env)}"
umask 077
mkdir -p /tmp/dask-tls
printf '%s' "$DASK_TLS_KEY" | base64 -d > /tmp/dask-tls/key.pem
printf '%s' "$DASK_TLS_CERT" | base64 -d > /tmp/dask-tls/cert.pem
unset DASK_TLS_KEY DASK_TLS_CERT
export DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION=True
export DASK_DISTRIBUTED__COMM__TLS__CA_FILE=/tmp/dask-tls/cert.pem
for role in SCHEDULER WORKER CLIENT; do
    export "DASK_DISTRIBUTED__COMM__TLS__${role}__KEY=/tmp/dask-tls/key.pem"
    export "DASK_DISTRIBUTED__COMM__TLS__${role}__CERT=/tmp/dask-tls/cert.pem"
done
exec "$@"
