#!/usr/bin/env bash
# `make image`: the wheelhouse (the project's wheel and its runtime dependencies, from the
# registry), then the image `portkey-stub:latest` and `portkey-stub:VERSION` from Containerfile,
# built by podman if it is there, else docker. The build itself needs no network.
# IMAGE_TAGS (space-separated) replaces those two tags: the image test builds under a tag of its
# own, so that it never overwrites a user's `latest`, nor races another checkout for it.
set -euo pipefail
cd "$(dirname "$0")/.."
engine=${CONTAINER_ENGINE:-$(command -v podman || command -v docker || true)}
[ -n "$engine" ] || { echo "make image: needs podman or docker" >&2; exit 2; }
version=$(.venv/bin/python -c 'import portkey_completions; print(portkey_completions.__version__)')
context=build/image
rm -rf "$context" && mkdir -p "$context/wheels"
echo "make image: the wheelhouse (pip wheel: the project and its runtime dependencies)"
.venv/bin/python -m pip wheel --quiet --wheel-dir "$context/wheels" .
tags=${IMAGE_TAGS:-"portkey-stub:$version portkey-stub:latest"}
echo "make image: building $tags with $(basename "$engine")"
flags=()
# Podman keeps HEALTHCHECK only in the docker image format.
[ "$(basename "$engine")" = podman ] && flags+=(--format docker)
for tag in $tags; do flags+=(--tag "$tag"); done
"$engine" build "${flags[@]}" --file Containerfile "$context"
