# Stand-in for gcr.io/distroless/static-debian12:nonroot, for a host without
# registry access: the same contents taken from the Debian stand-in — CA
# certificates, time zones, /etc/passwd and /etc/group with root, nobody and
# nonroot (65532), /etc/services, a sticky /tmp — and nothing else: no shell,
# no package manager, no libc.
ARG DEBIAN=confapplet/standin-debian:bookworm
FROM ${DEBIAN} AS src
RUN set -e; o=/out; \
    mkdir -p $o/etc/ssl/certs $o/usr/share $o/tmp $o/root $o/home/nonroot $o/var; \
    printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' \
      'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
      'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >$o/etc/passwd; \
    printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'tty:x:5:' 'staff:x:50:' 'nonroot:x:65532:' >$o/etc/group; \
    cp /etc/ssl/certs/ca-certificates.crt $o/etc/ssl/certs/; \
    cp -a /usr/share/zoneinfo $o/usr/share/; \
    cp /etc/services /etc/protocols /etc/os-release $o/etc/; \
    chmod 1777 $o/tmp; chmod 700 $o/root
FROM scratch
COPY --from=src /out/ /
COPY --from=src --chown=65532:65532 /out/home/nonroot /home/nonroot
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
LABEL org.confapplet.standin="gcr.io/distroless/static-debian12:nonroot"
USER 65532:65532
WORKDIR /home/nonroot
