#!/bin/sh
# The replicas are the addresses the name $REPLICAS resolves to, one per replica however many run. NGINX
# resolves names only when it (re)loads its configuration, and a restarted replica may come back under
# a new address, so a loop looks every two seconds and reloads NGINX when an address it does not have
# appears (then with exactly the current ones). A replica that goes away is not a reason to reload: a
# reload closes idle client connections, and NGINX already steps over a dead replica (max_fails, and
# proxy_next_upstream), so a replica that comes back under its old address costs no reload at all.
set -eu
replicas_host=${REPLICAS:-serve}
conf=/run/balancer/nginx.conf
upstream=/run/balancer/replicas.conf

addresses() { getent ahostsv4 "$replicas_host" | awk '{print $1}' | sort -u | tr '\n' ' '; }

write_upstream() {
    {
        echo "upstream replicas {"
        for address in $1; do echo "    server $address:${REPLICA_PORT:-8000} max_fails=1 fail_timeout=5s;"; done
        [ -n "$1" ] || echo "    server 127.0.0.1:1;  # no replica yet: every request gets a 503"
        echo "}"
    } > "$upstream.new"
    mv "$upstream.new" "$upstream"
}

watch_replicas() {
    current=$1
    while sleep 2; do
        found=$(addresses || true)
        for address in $found; do
            case " $current " in
            *" $address "*) ;;
            *)
                write_upstream "$found"
                nginx -c "$conf" -e stderr -s reload && echo "balancer: replicas now $found" >&2
                current=$found
                break
                ;;
            esac
        done
    done
}

sed "s/MAX_BODY_BYTES/${MAX_BODY_BYTES:-16777216}/g" /etc/nginx/balancer.conf > "$conf"
found=$(addresses || true)
write_upstream "$found"
echo "balancer: replicas ${found:-none}" >&2
watch_replicas "$found" &
exec nginx -c "$conf" -e stderr -g 'daemon off;'
