#!/bin/sh
# Turns a root filesystem made by rootfs.sh into an OCI image FROM scratch with buildah, with
# the settings of the Dockerfile's runtime stage (user, volume, port, health check, command).
#
#   deploy/container/image.sh /tmp/rootfs schemagate:dev
# BUILDAH="buildah --storage-driver vfs" selects another storage driver.
#   podman run -d -p 8080:8080 -v ./gateway.toml:/etc/schemagate/gateway.toml:ro ... schemagate:dev
set -eu

root=${1:?usage: image.sh ROOTFS TAG}
tag=${2:?usage: image.sh ROOTFS TAG}

buildah=${BUILDAH:-buildah}
ctr=$($buildah from scratch)
trap '$buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
$buildah copy "$ctr" "$root" / >/dev/null
$buildah config \
    --user 65532:65532 \
    --workingdir /etc/schemagate \
    --volume /etc/schemagate \
    --port 8080 \
    --stop-signal SIGTERM \
    --healthcheck 'CMD ["/usr/local/bin/schemagate", "health", "http://127.0.0.1:8080/healthz"]' \
    --healthcheck-interval 10s --healthcheck-timeout 3s --healthcheck-start-period 5s --healthcheck-retries 3 \
    --entrypoint '["/usr/local/bin/schemagate"]' \
    --cmd 'serve --config /etc/schemagate/gateway.toml --listen 0.0.0.0:8080' \
    --label org.opencontainers.image.title=schemagate \
    --label org.opencontainers.image.licenses=Apache-2.0 \
    "$ctr"
$buildah commit --format docker "$ctr" "$tag"
