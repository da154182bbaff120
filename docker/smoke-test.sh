#!/usr/bin/env bash
# Manual end-to-end check of the Dockerfile, for hosts that cannot pull base images.
# NOT part of CI: it takes 15-40 minutes and ~15 GB of disk (the CUDA torch wheels).
#
# 1. debootstraps a minimal Debian rootfs (no Python in it, like NVIDIA's CUDA base images)
#    and imports it as a local base image;
# 2. builds the Dockerfile with --build-arg BASE_IMAGE=<that image> (Python comes from apt,
#    torch and the rest from PyPI);
# 3. runs the image on CPU with the tiny demo pair, waits for GET /health == 200 and checks
#    /v1/models, one chat completion, the non-root user and the image's HEALTHCHECK.
#
# Needs root (debootstrap), podman (or ENGINE=docker), network access to the Debian mirror
# and to PyPI (or PIP_INDEX_URL). Build outputs go to $WORK (default /tmp/specvlm-smoke),
# never into the repository.
#
#   sudo docker/smoke-test.sh                 # everything
#   KEEP=1 docker/smoke-test.sh               # leave the container running afterwards
#   SKIP_BUILD=1 docker/smoke-test.sh         # only run + check an image built before
#
# Settings (environment): ENGINE, WORK, SUITE, MIRROR, BASE_TAG, IMAGE, PORT, BUILD_NETWORK,
# RUN_NETWORK (bridge|host), HOST_CA_BUNDLE, TORCH_SPEC, TORCH_INDEX_URL, PIP_INDEX_URL, HEALTH_TIMEOUT, KEEP,
# ENGINE_FLAGS (extra flags for both `build` and `run`). In a sandbox without CAP_SYS_RESOURCE and
# with hybrid cgroups (crun: "cgroups in hybrid mode not supported", "setrlimit RLIMIT_NPROC:
# Operation not permitted"), this worked with podman 4.3:
#   ENGINE_FLAGS="--runtime runc --ulimit nofile=20000:20000 --ulimit nproc=4096:4096"
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
ENGINE="${ENGINE:-podman}"
WORK="${WORK:-/tmp/specvlm-smoke}"
SUITE="${SUITE:-bookworm}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
BASE_TAG="${BASE_TAG:-localhost/specvlm-base:${SUITE}}"
IMAGE="${IMAGE:-localhost/specvlm:smoke}"
NAME="${NAME:-specvlm-smoke}"
PORT="${PORT:-18000}"
BUILD_NETWORK="${BUILD_NETWORK:-host}"
RUN_NETWORK="${RUN_NETWORK:-bridge}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.14.1 torchvision==0.29.1}"
HEALTH_TIMEOUT="${HEALTH_TIMEOUT:-600}"
HOST_CA_BUNDLE="${HOST_CA_BUNDLE-$( [ -r /etc/ssl/certs/ca-certificates.crt ] && echo /etc/ssl/certs/ca-certificates.crt )}"
read -r -a engine_flags <<< "${ENGINE_FLAGS:-}"

log() { printf '\n=== %s\n' "$*" >&2; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

# --- 1. local base image -----------------------------------------------------------------
if [ -z "${SKIP_BUILD:-}" ]; then
    if "$ENGINE" image exists "$BASE_TAG" 2>/dev/null || "$ENGINE" image inspect "$BASE_TAG" >/dev/null 2>&1; then
        log "base image $BASE_TAG exists (remove it to bootstrap again)"
    else
        command -v debootstrap >/dev/null || fail "debootstrap not found (apt-get install debootstrap)"
        rootfs="$WORK/rootfs-$SUITE"
        if [ ! -x "$rootfs/bin/sh" ]; then
            log "debootstrap --variant=minbase $SUITE -> $rootfs"
            rm -rf "$rootfs"
            mkdir -p "$WORK"
            debootstrap --variant=minbase "$SUITE" "$rootfs" "$MIRROR"
        fi
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
        changes=(--change 'CMD ["/bin/bash"]')
        # Behind a TLS-intercepting proxy pip inside the build needs this host's CA bundle: bake
        # it into the base image, as a site base image would carry a site CA (HOST_CA_BUNDLE=
        # turns it off). It lands outside /etc/ssl so installing ca-certificates keeps it.
        if [ -n "$HOST_CA_BUNDLE" ]; then
            install -D -m 0644 "$HOST_CA_BUNDLE" "$rootfs/usr/local/share/specvlm-smoke/ca-bundle.crt"
            changes+=(--change 'ENV PIP_CERT=/usr/local/share/specvlm-smoke/ca-bundle.crt')
        fi
        log "import $rootfs as $BASE_TAG"
        tar -C "$rootfs" --numeric-owner -c . | "$ENGINE" import "${changes[@]}" - "$BASE_TAG"
    fi

    # --- 2. the image ----------------------------------------------------------------------
    build_args=(--build-arg "BASE_IMAGE=$BASE_TAG" --build-arg "TORCH_SPEC=$TORCH_SPEC")
    [ -n "${TORCH_INDEX_URL:-}" ] && build_args+=(--build-arg "TORCH_INDEX_URL=$TORCH_INDEX_URL")
    [ -n "${PIP_INDEX_URL:-}" ] && build_args+=(--build-arg "PIP_INDEX_URL=$PIP_INDEX_URL")
    # podman writes OCI images by default, and OCI has no HEALTHCHECK: ask for docker format
    [ "$(basename "$ENGINE")" = podman ] && build_args+=(--format docker)
    log "build $IMAGE from $REPO (BASE_IMAGE=$BASE_TAG)"
    start=$(date +%s)
    "$ENGINE" build ${engine_flags[@]+"${engine_flags[@]}"} --network "$BUILD_NETWORK" "${build_args[@]}" -t "$IMAGE" "$REPO"
    log "built in $(( $(date +%s) - start )) s"
fi

size=$("$ENGINE" image inspect --format '{{.Size}}' "$IMAGE")
log "image $IMAGE: $(( size / 1000000 )) MB"

# --- 3. run and check ----------------------------------------------------------------------
"$ENGINE" rm -f -v "$NAME" >/dev/null 2>&1 || true
cleanup() {
    status=$?
    if [ $status -ne 0 ]; then
        log "container logs"
        "$ENGINE" logs --tail 80 "$NAME" 2>&1 || true
    fi
    if [ -z "${KEEP:-}" ]; then "$ENGINE" rm -f -v "$NAME" >/dev/null 2>&1 || true; fi
    exit $status
}
trap cleanup EXIT

run_args=(${engine_flags[@]+"${engine_flags[@]}"} -d --name "$NAME" -e SPECVLM_DEVICE=cpu)
if [ "$RUN_NETWORK" = host ]; then
    run_args+=(--network host -e "SPECVLM_PORT=$PORT" -e SPECVLM_HOST=127.0.0.1)
else
    run_args+=(-p "127.0.0.1:$PORT:8000")
fi
log "$ENGINE run ${run_args[*]} $IMAGE"
"$ENGINE" run "${run_args[@]}" "$IMAGE"

base="http://127.0.0.1:$PORT"
log "waiting up to $HEALTH_TIMEOUT s for $base/health == 200"
deadline=$(( $(date +%s) + HEALTH_TIMEOUT ))
code=000
while [ "$(date +%s)" -lt "$deadline" ]; do
    code=$(curl -s -o /dev/null -w '%{http_code}' --noproxy '*' "$base/health" || true)
    [ "$code" = 200 ] && break
    [ "$("$ENGINE" inspect --format '{{.State.Running}}' "$NAME")" = true ] || fail "container exited"
    sleep 3
done
[ "$code" = 200 ] || fail "/health answered $code after $HEALTH_TIMEOUT s"
curl -s --noproxy '*' "$base/health"; echo
log "GET /health: 200 after $(( HEALTH_TIMEOUT - (deadline - $(date +%s)) )) s"

log "GET /v1/models"
models=$(curl -sf --noproxy '*' "$base/v1/models") || fail "/v1/models"
echo "$models"
model=$(printf '%s' "$models" | python3 -c 'import json, sys; print(json.load(sys.stdin)["data"][0]["id"])')

log "POST /v1/chat/completions (model $model, text only, 8 tokens)"
curl -sf --noproxy '*' "$base/v1/chat/completions" -H 'Content-Type: application/json' \
    -d "{\"model\": \"$model\", \"max_tokens\": 8, \"messages\": [{\"role\": \"user\", \"content\": \"Hello\"}]}" \
    | python3 -c 'import json, sys; r = json.load(sys.stdin); print(r["object"], r["usage"], repr(r["choices"][0]["message"]["content"]))' \
    || fail "chat completion"

log "user inside the container"
uid=$("$ENGINE" exec "$NAME" id -u)
"$ENGINE" exec "$NAME" id
[ "$uid" != 0 ] || fail "the server runs as root"

log "the image's HEALTHCHECK"
if [ "$(basename "$ENGINE")" = podman ]; then
    "$ENGINE" healthcheck run "$NAME" || fail "podman healthcheck run"
else
    "$ENGINE" exec "$NAME" specvlm-healthcheck || fail "specvlm-healthcheck"
fi
echo healthy
"$ENGINE" image inspect --format '{{json .Config.Healthcheck}}' "$IMAGE" 2>/dev/null \
    || "$ENGINE" image inspect --format '{{json .Healthcheck}}' "$IMAGE" 2>/dev/null || true

log "OK: $IMAGE built on $BASE_TAG serves /health 200 on CPU"
