# Stand-in for the registry's haproxy:<version>-alpine, for a host without
# registry access: Debian's haproxy package on the Debian stand-in, laid out
# like the official image (config /usr/local/etc/haproxy/haproxy.cfg, user
# haproxy, master-worker in the foreground, SIGUSR1 to stop softly, wget for
# the compose health check). Debian bookworm's haproxy is 2.6; deploy/lb/haproxy.cfg
# uses nothing newer.
ARG DEBIAN=confapplet/standin-debian:bookworm
FROM ${DEBIAN}
ARG HAPROXY_TAG
RUN apt-get update -q && \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends haproxy && \
    rm -rf /var/lib/apt/lists/* && \
    mkdir -p /usr/local/etc/haproxy /var/lib/haproxy && chown haproxy:haproxy /var/lib/haproxy
COPY haproxy-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
LABEL org.confapplet.standin="haproxy:${HAPROXY_TAG}"
STOPSIGNAL SIGUSR1
USER haproxy
WORKDIR /var/lib/haproxy
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["haproxy", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]
