#!/usr/bin/env bash
# The image `localhost/portkey-stub-redis:debian`: Debian's redis-server on the local
# python:3.11-slim base (Debian bookworm), for `podman kube play` of deploy/kubernetes/overlays/podman
# on a machine that reaches no container registry (on a cluster, the base uses docker.io/library/redis).
# The packages are fetched on the host with apt and unpacked into the image: the build needs no network.
set -euo pipefail
cd "$(dirname "$0")/.."
engine=${CONTAINER_ENGINE:-$(command -v podman || command -v docker || true)}
[ -n "$engine" ] || { echo "redis-image.sh: needs podman or docker" >&2; exit 2; }
tag=${REDIS_IMAGE:-localhost/portkey-stub-redis:debian}
context=build/redis-image
rm -rf "$context" && mkdir -p "$context/debs" "$context/root"
# redis-server holds the command (a link to redis-tools' binary); the others are what it links beyond the base.
packages=(redis-server redis-tools libjemalloc2 liblzf1 libatomic1)
(cd "$context/debs" && { apt-get download "${packages[@]}" 2>/dev/null || { apt-get update -qq && apt-get download "${packages[@]}"; }; })
for deb in "$context"/debs/*.deb; do dpkg-deb -x "$deb" "$context/root"; done
# Only the commands and their libraries: /lib is a link to usr/lib in the base, which a copied
# directory of that name would replace (and the loader with it).
rm -rf "$context/root/lib" "$context/root/etc" "$context/root/usr/share"
# As the official image's entrypoint does: a `redis-server` command without a config file runs
# with protected mode off, so that the other containers of a compose project or a pod may connect.
cat >"$context/root/usr/bin/redis-entrypoint" <<'ENTRYPOINT'
#!/bin/sh
if [ "$1" = redis-server ]; then shift; exec redis-server --protected-mode no "$@"; fi
exec "$@"
ENTRYPOINT
chmod +x "$context/root/usr/bin/redis-entrypoint"
cat >"$context/Containerfile" <<'CONTAINERFILE'
FROM python:3.11-slim
COPY root/ /
USER 999
WORKDIR /data
EXPOSE 6379
ENTRYPOINT ["redis-entrypoint"]
CMD ["redis-server", "--save", "", "--appendonly", "no"]
CONTAINERFILE
"$engine" build --tag "$tag" --file "$context/Containerfile" "$context"
