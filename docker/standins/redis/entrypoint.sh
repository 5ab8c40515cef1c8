#!/bin/sh
# As the official redis image: `redis-server ...` runs as the redis user in /data, reachable on the
# container's network (the image has no config file, so protected mode would refuse every other host).
set -eu
if [ "${1:-}" = redis-server ]; then
  shift
  chown redis:redis /data
  exec setpriv --reuid=redis --regid=redis --init-groups redis-server --bind "* -::*" --protected-mode no --dir /data "$@"
fi
exec "$@"
