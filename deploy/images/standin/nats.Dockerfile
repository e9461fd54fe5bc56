# Stand-in for the registry's nats:<version>-alpine, for a host without
# registry access: nats-server of that exact version built from its Go module,
# on the Debian stand-in (which has wget, as Alpine's busybox does, for the
# compose health check). Same entrypoint, command, config path and ports as
# the official image.
ARG GO_IMAGE
ARG DEBIAN=confapplet/standin-debian:bookworm
FROM ${GO_IMAGE} AS build
ARG NATS_SERVER_VERSION
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false
RUN go install -trimpath -ldflags="-s -w" "github.com/nats-io/nats-server/v2@v${NATS_SERVER_VERSION}"

FROM ${DEBIAN}
ARG NATS_SERVER_VERSION
COPY --from=build /go/bin/nats-server /usr/local/bin/nats-server
COPY nats-server.conf /etc/nats/nats-server.conf
COPY nats-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
LABEL org.confapplet.standin="nats:${NATS_SERVER_VERSION}-alpine"
EXPOSE 4222 6222 8222
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["nats-server", "--config", "/etc/nats/nats-server.conf"]
