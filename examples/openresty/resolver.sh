#!/bin/sh
# Writes nginx's `resolver` line for this host from /etc/resolv.conf (or the file given),
# for examples/openresty/nginx.conf's `include resolver.conf;`:
#
#   sh examples/openresty/resolver.sh > examples/openresty/resolver.conf
#
# Cosockets resolve names only through the DNS servers of nginx's `resolver` directive:
# not /etc/hosts, and Debian's nginx has no `resolver local=on` (an OpenResty patch that
# reads /etc/resolv.conf itself). Run it again when the host's DNS servers change.
conf=${1:-/etc/resolv.conf}
servers=$(awk '$1 == "nameserver" && $2 != "" {
    s = $2; sub(/%.*/, "", s)               # fe80::1%eth0: nginx takes no zone index
    if (s ~ /:/) s = "[" s "]"              # IPv6 addresses in brackets
    printf "%s%s", sep, s; sep = " "
  }' "$conf")
if [ -z "$servers" ]; then
  echo "resolver.sh: no nameserver line in $conf" >&2
  exit 1
fi
echo "resolver $servers ipv6=off valid=300s;"
