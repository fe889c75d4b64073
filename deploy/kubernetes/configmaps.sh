#!/bin/sh
# Prints the ConfigMaps the Deployment mounts, from a configuration tree laid out as the
# repository is: gateway.toml (written for the cluster, see gateway.toml in this folder) and
# one ConfigMap per directory of partner files, named schemagate-<kind>-<dir>
# (schemas/acme -> schemagate-schemas-acme). Apply with:
#
#   deploy/kubernetes/configmaps.sh deploy/kubernetes/gateway.toml . | kubectl apply -f -
#
# Re-running it after editing a schema or a mapping updates the ConfigMaps in place; the
# kubelet refreshes the mounted files and the gateway reloads them (no restart).
set -eu

config=${1:?usage: configmaps.sh GATEWAY_TOML ROOT}
root=${2:?usage: configmaps.sh GATEWAY_TOML ROOT}

for tool in kubectl; do
    command -v "$tool" >/dev/null 2>&1 || { echo "configmaps.sh needs $tool" >&2; exit 1; }
done

kubectl create configmap schemagate-config --from-file=gateway.toml="$config" \
    --dry-run=client -o yaml
for kind in schemas mappings; do
    for dir in "$root/$kind"/*/; do
        [ -d "$dir" ] || continue
        name=$(basename "$dir")
        echo "---"
        kubectl create configmap "schemagate-$kind-$name" --from-file="$dir" \
            --dry-run=client -o yaml
    done
done
