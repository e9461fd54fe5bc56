# Stand-in for the registry's golang:<version>-bookworm, for a host without
# registry access: the Debian stand-in plus the Go toolchain of that exact
# version (the build context is its GOROOT, deploy/images/images.sh). Like the
# official image: /usr/local/go, GOPATH=/go, GOTOOLCHAIN=local. Unlike it: no
# gcc or git (the confapplet builds are CGO_ENABLED=0 and use the module proxy).
ARG DEBIAN=confapplet/standin-debian:bookworm
FROM ${DEBIAN}
ARG GO_VERSION
COPY . /usr/local/go
ENV GOLANG_VERSION=${GO_VERSION} GOTOOLCHAIN=local GOPATH=/go \
    PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN mkdir -p /go/src /go/bin && chmod -R 1777 /go && \
    test "$(go env GOVERSION)" = "go${GO_VERSION}"
LABEL org.confapplet.standin="golang:${GO_VERSION}-bookworm"
WORKDIR /go
