#!/bin/sh
# The official NATS image's entrypoint: arguments that start with a flag are
# nats-server's (docker-compose.yml passes `-c /etc/nats/nats-N.conf`).
set -e
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
  set -- nats-server "$@"
fi
exec "$@"
