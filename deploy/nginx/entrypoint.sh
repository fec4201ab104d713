#!/bin/sh
# NGINX's configuration for this container: its DNS server (Docker's or podman's, from resolv.conf), the
# replicas' service name and their body limit; then NGINX itself, in the foreground.
set -eu
resolver=$(awk '$1 == "nameserver" { print $2; exit }' /etc/resolv.conf)
[ -n "$resolver" ] || { echo "balancer: no nameserver in /etc/resolv.conf" >&2; exit 1; }
sed -e "s/RESOLVER/$resolver/" -e "s/REPLICAS/${REPLICAS:-serve}/" -e "s/MAX_BODY_BYTES/${MAX_BODY_BYTES:-16777216}/g" \
    /etc/nginx/balancer.conf > /run/balancer/nginx.conf
exec nginx -c /run/balancer/nginx.conf -e stderr -g 'daemon off;'
