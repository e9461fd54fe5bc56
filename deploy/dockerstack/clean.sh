#!/usr/bin/env bash
# Removes every container, network and volume of the test stacks — the
# Compose projects named confapplet-<test>-<pid> that deploy/dockerstack
# starts — whatever state a test left them in (a test killed by its timeout
# runs no cleanup). The operator's own project, confapplet, is left alone.
set -uo pipefail
label=com.docker.compose.project
projects=$(
  {
    docker ps -a --format "{{.Label \"$label\"}}"
    docker network ls --format "{{.Label \"$label\"}}"
    docker volume ls --format "{{.Label \"$label\"}}"
  } | grep -E '^confapplet-[a-z]+-[0-9]+$' | sort -u
)
for p in $projects; do
  ids=$(docker ps -aq --filter "label=$label=$p")
  [[ -n $ids ]] && docker rm -f $ids >/dev/null
  ids=$(docker network ls -q --filter "label=$label=$p")
  [[ -n $ids ]] && docker network rm $ids >/dev/null
  ids=$(docker volume ls -q --filter "label=$label=$p")
  [[ -n $ids ]] && docker volume rm $ids >/dev/null
  echo "removed test stack $p"
done
exit 0
