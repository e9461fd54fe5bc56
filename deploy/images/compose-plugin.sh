#!/usr/bin/env bash
# Makes sure `docker compose` (Compose v2, which has `up --wait`) works. A host
# whose only Compose is Debian bookworm's docker-compose 1.29 gets the Compose
# v2 CLI plugin built from its Go module (github.com/docker/compose/v2), the
# version below, installed where the docker CLI looks for plugins.
set -euo pipefail
version=${COMPOSE_VERSION:-v2.40.3}
if docker compose version >/dev/null 2>&1; then
  exit 0
fi
command -v go >/dev/null || { echo "compose-plugin: no 'docker compose' and no Go to build it" >&2; exit 1; }
if [[ $(id -u) == 0 ]]; then
  dest=/usr/local/lib/docker/cli-plugins
else
  dest=$HOME/.docker/cli-plugins
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/compose-plugin.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "compose-plugin: building Docker Compose $version from its Go module (a few minutes)" >&2
# `go install mod@version` refuses modules with exclude directives, which
# Compose's go.mod has: build inside a copy of the module instead.
dir=$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "github.com/docker/compose/v2@$version" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[[ -d $dir ]] || { echo "compose-plugin: module github.com/docker/compose/v2@$version not downloaded" >&2; exit 1; }
cp -r "$dir" "$work/src" && chmod -R u+w "$work/src"
(cd "$work/src" && GOFLAGS= CGO_ENABLED=0 go build -trimpath \
  -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$version" \
  -o "$work/docker-compose" ./cmd)
mkdir -p "$dest"
install -m 0755 "$work/docker-compose" "$dest/docker-compose"
docker compose version
