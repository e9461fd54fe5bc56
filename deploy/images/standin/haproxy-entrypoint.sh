#!/bin/sh
# The official HAProxy image's entrypoint: flags are haproxy's, and haproxy
# runs master-worker (-W) in the foreground (-db).
set -e
if [ "${1#-}" != "$1" ]; then
  set -- haproxy "$@"
fi
if [ "$1" = 'haproxy' ]; then
  shift
  set -- haproxy -W -db "$@"
fi
exec "$@"
