#!/bin/sh
# Builds a minimal root filesystem for schemagate from a built binary: the binary, the shared
# libraries `ldd` names, /etc/passwd and /etc/group with a non-root user (65532, as
# distroless's `nonroot`), and an empty /etc/schemagate for the mounted configuration. The
# same files the distroless image carries, for machines that cannot pull base images.
#
#   deploy/container/rootfs.sh target/release/schemagate /tmp/rootfs
#   deploy/container/image.sh  /tmp/rootfs schemagate:dev      # buildah, FROM scratch
#   chroot --userspec=65532:65532 /tmp/rootfs /usr/local/bin/schemagate --version
set -eu

bin=${1:?usage: rootfs.sh BINARY ROOTFS}
root=${2:?usage: rootfs.sh BINARY ROOTFS}

mkdir -p "$root/usr/local/bin" "$root/etc/schemagate" "$root/tmp"
chmod 1777 "$root/tmp"
install -m 0755 "$bin" "$root/usr/local/bin/schemagate"

# Every library the dynamic loader resolves, and the loader itself, at their own paths.
ldd "$bin" | awk '/=> \// { print $3 } /^\t\// { print $1 }' | while read -r lib; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done

printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' \
    > "$root/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' > "$root/etc/group"
# Resolving upstream host names reads these; without them only IP literals resolve.
printf 'hosts: files dns\n' > "$root/etc/nsswitch.conf"
: > "$root/etc/hosts"
