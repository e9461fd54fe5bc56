#!/usr/bin/env bash
# Builds, lists or saves every image docker-compose.yml uses, on a host with
# or without access to a container registry (docs/operations.md, "Images").
#
#   deploy/images/images.sh build   # make images
#   deploy/images/images.sh save    # make images-save: one tarball for `docker load`
#   deploy/images/images.sh list    # each image, present or not, stand-in or not
#
# The base images (the builder and runtime of deploy/Dockerfile, NATS and
# HAProxy of docker-compose.yml) are read from those two files. A base image
# already present is used as it is; with IMAGES_PULL=1 a missing one is pulled
# first. One still missing is replaced by a faithful stand-in of the same name
# and tag, made from what such a host reaches: Debian's packages (debootstrap),
# the Go module proxy (nats-server, and the Go toolchain when the host's differs).
# The service images are then built with the committed deploy/Dockerfile.
#
# Environment: CONFAPPLET_TAG (dev) the service images' tag, as in compose;
# IMAGES_PULL=1 pull missing base images before making stand-ins;
# IMAGES_OUT the tarball of `save` (artifacts/confapplet-images-<tag>.tar.gz);
# DOCKER (docker) the client.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
here="$root/deploy/images"
docker=${DOCKER:-docker}
tag=${CONFAPPLET_TAG:-dev}
debian_image=confapplet/standin-debian:bookworm

log() { printf 'images: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# The Dockerfile's FROM images outside the build's own stages, ARG defaults
# applied (golang:${GO_VERSION}-bookworm → golang:1.26.8-bookworm).
dockerfile_bases() {
  local df="$root/deploy/Dockerfile" line name val img
  declare -A args=()
  while IFS= read -r line; do
    if [[ $line =~ ^ARG[[:space:]]+([A-Za-z_]+)=(.*)$ ]]; then
      name=${BASH_REMATCH[1]} val=${BASH_REMATCH[2]}
      args[$name]=$val
    elif [[ $line =~ ^FROM[[:space:]]+([^[:space:]]+) ]]; then
      img=${BASH_REMATCH[1]}
      for name in "${!args[@]}"; do img=${img//\$\{$name\}/${args[$name]}}; done
      # A FROM naming an earlier stage (FROM build AS pick) is no image.
      [[ $img == *[:/]* ]] && echo "$img"
    fi
  done <"$df"
}

# docker-compose.yml's image: lines, ${VAR:-default} expanded from the
# environment like Compose does.
compose_images() {
  local img
  sed -n 's/^[[:space:]]*image:[[:space:]]*//p' "$root/docker-compose.yml" | tr -d '"'"'" |
    while IFS= read -r img; do
      while [[ $img =~ \$\{([A-Za-z_]+):-([^}]*)\} ]]; do
        local var=${BASH_REMATCH[1]} def=${BASH_REMATCH[2]}
        img=${img/"${BASH_REMATCH[0]}"/${!var:-$def}}
      done
      echo "$img"
    done
}

# Images compose runs that are built here: confapplet/<name>:<tag>.
service_images() { compose_images | grep '^confapplet/' || true; }
# Images compose runs as they are (NATS, HAProxy).
runtime_bases() { compose_images | grep -v '^confapplet/' || true; }

present() { "$docker" image inspect "$1" >/dev/null 2>&1; }
standin_of() { "$docker" image inspect -f '{{index .Config.Labels "org.confapplet.standin"}}' "$1" 2>/dev/null || true; }

ensure_debian() {
  present "$debian_image" && return 0
  "$here/debian-rootfs.sh" "$debian_image" bookworm
}

# One stand-in, named as the image it stands in for.
make_standin() {
  local img=$1 repo=${1%:*} ver=${1##*:}
  case $repo in
  golang)
    [[ $ver =~ ^([0-9]+\.[0-9]+(\.[0-9]+)?)-bookworm$ ]] || die "no stand-in for $img (want golang:<version>-bookworm)"
    local gov=${BASH_REMATCH[1]} goroot
    command -v go >/dev/null || die "no stand-in for $img without a Go toolchain on this host"
    # The host's toolchain when it is that version; else the go command
    # fetches exactly that one from the module proxy (golang.org/toolchain).
    goroot=$(GOTOOLCHAIN=go$gov go env GOROOT) || die "Go toolchain go$gov not available"
    ensure_debian
    "$docker" build -q -t "$img" --build-arg "GO_VERSION=$gov" --build-arg "DEBIAN=$debian_image" \
      -f "$here/standin/golang.Dockerfile" "$goroot" >/dev/null
    ;;
  gcr.io/distroless/static-debian12)
    [[ $ver == nonroot ]] || die "no stand-in for $img (want :nonroot)"
    ensure_debian
    "$docker" build -q -t "$img" --build-arg "DEBIAN=$debian_image" \
      -f "$here/standin/distroless-static.Dockerfile" "$here/standin" >/dev/null
    ;;
  nats)
    [[ $ver =~ ^([0-9]+\.[0-9]+\.[0-9]+)-alpine$ ]] || die "no stand-in for $img (want nats:<x.y.z>-alpine)"
    local go_image
    go_image=$(dockerfile_bases | grep '^golang:' | head -1)
    ensure_base "$go_image"
    ensure_debian
    "$docker" build -q -t "$img" --build-arg "GO_IMAGE=$go_image" --build-arg "DEBIAN=$debian_image" \
      --build-arg "NATS_SERVER_VERSION=${BASH_REMATCH[1]}" \
      -f "$here/standin/nats.Dockerfile" "$here/standin" >/dev/null
    ;;
  haproxy)
    ensure_debian
    "$docker" build -q -t "$img" --build-arg "DEBIAN=$debian_image" --build-arg "HAPROXY_TAG=$ver" \
      -f "$here/standin/haproxy.Dockerfile" "$here/standin" >/dev/null
    ;;
  *) die "no stand-in for $img: pull it on a host with registry access and docker load it here" ;;
  esac
  log "$img: stand-in built"
}

ensure_base() {
  local img=$1
  if present "$img"; then
    return 0
  fi
  if [[ ${IMAGES_PULL:-0} == 1 ]] && "$docker" pull -q "$img" >/dev/null 2>&1; then
    log "$img: pulled"
    return 0
  fi
  log "$img: not present, making a stand-in"
  make_standin "$img"
}

build() {
  local img t0=$SECONDS
  for img in $(dockerfile_bases) $(runtime_bases); do
    ensure_base "$img"
  done
  # The four images share deploy/Dockerfile's build stage: the first build
  # compiles every binary, the others take it from the build cache.
  for img in $(service_images); do
    local name=${img#confapplet/}
    name=${name%:*}
    local dir=$name
    [[ $name == ytxsim ]] && dir=deploy/ytxsim
    log "$img: building (SERVICE=$dir)"
    "$docker" build -q -f "$root/deploy/Dockerfile" --build-arg "SERVICE=$dir" -t "$img" "$root" >/dev/null
  done
  log "done in $((SECONDS - t0)) s"
  list
}

list() {
  local img s
  for img in $(dockerfile_bases) $(runtime_bases) $(service_images); do
    if ! present "$img"; then
      printf '%-45s missing\n' "$img"
      continue
    fi
    s=
    # Service images inherit the runtime's labels: only bases are stand-ins.
    [[ $img == confapplet/* ]] || s=$(standin_of "$img")
    printf '%-45s present%s\n' "$img" "${s:+ (stand-in)}"
  done
}

save() {
  local out=${IMAGES_OUT:-$root/artifacts/confapplet-images-$tag.tar.gz} imgs=() img
  for img in $(runtime_bases) $(service_images); do
    present "$img" || die "$img missing: run make images first"
    imgs+=("$img")
  done
  mkdir -p "$(dirname "$out")"
  "$docker" save "${imgs[@]}" | gzip -1 >"$out.part"
  mv "$out.part" "$out"
  log "$out: ${imgs[*]} ($(du -h "$out" | cut -f1)); on the other host: docker load -i $(basename "$out")"
}

case ${1:-build} in
build) build ;;
list) list ;;
save) save ;;
bases) dockerfile_bases; runtime_bases ;;
*) die "usage: images.sh build|list|save|bases" ;;
esac
