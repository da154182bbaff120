# specvlm server image: `specvlm serve` configured by SPECVLM_* environment variables.
#
#   docker build -t specvlm .                                  # GPU image (CUDA torch from PyPI)
#   docker run --gpus all -p 8000:8000 -v specvlm-cache:/cache \
#       -e SPECVLM_TARGET=Qwen/Qwen2.5-VL-32B-Instruct -e SPECVLM_DRAFT=Qwen/Qwen2.5-VL-7B-Instruct specvlm
#   docker run -p 8000:8000 specvlm                            # no model named: tiny demo pair (CPU is fine)
#
# Build arguments:
#   BASE_IMAGE       any Debian/Ubuntu image; Python 3.11+ is installed with apt when the image lacks it.
#                    The default is NVIDIA's CUDA *base* flavour: the PyPI torch wheels bring their own
#                    CUDA runtime, cuBLAS, cuDNN and NCCL, so the `-runtime`/`-cudnn-runtime` flavours only
#                    add a second copy of them (they work too: --build-arg BASE_IMAGE=...-runtime-...).
#                    The host needs an NVIDIA driver for CUDA 13 (>= 580) and the NVIDIA container toolkit.
#   TORCH_SPEC       torch and torchvision, pinned together (same as the Makefile's TORCH_SPEC).
#   TORCH_INDEX_URL  optional index for torch only, e.g. https://download.pytorch.org/whl/cpu for a
#                    small CPU-only image; empty: PyPI (CUDA build, which also runs on CPU).
#   PIP_INDEX_URL    optional PyPI mirror for everything else. Behind a TLS-intercepting proxy, use a
#                    base image that carries the proxy's CA and sets PIP_CERT (see docker/smoke-test.sh).
#   APP_UID          uid of the non-root user `specvlm` (default 1000).
#
# docker/smoke-test.sh builds this file on a locally bootstrapped Debian base through BASE_IMAGE
# and checks /health (manual, slow, not part of CI).

ARG BASE_IMAGE=nvidia/cuda:13.0.1-base-ubuntu24.04

# ---------------------------------------------------------------------------------------------
# builder: a virtual environment in /opt/venv with torch, the dependencies and the project
# ---------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS builder

ARG DEBIAN_FRONTEND=noninteractive
ARG PIP_INDEX_URL=""
RUN set -eux; \
    [ -n "${PIP_INDEX_URL}" ] || unset PIP_INDEX_URL; \
    if ! python3 -c 'import sys, ensurepip, venv; assert sys.version_info >= (3, 11)' 2>/dev/null; then \
        apt-get update; \
        apt-get install -y --no-install-recommends python3 python3-venv; \
        rm -rf /var/lib/apt/lists/*; \
    fi; \
    python3 -m venv /opt/venv; \
    /opt/venv/bin/python -m pip install --no-cache-dir --upgrade pip

ENV PATH=/opt/venv/bin:$PATH \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_DEFAULT_TIMEOUT=180

# 1. torch + torchvision (the big layer; rebuilt only when the spec or index changes)
ARG TORCH_SPEC="torch==2.14.1 torchvision==0.29.1"
ARG TORCH_INDEX_URL=""
RUN set -eux; \
    [ -n "${PIP_INDEX_URL}" ] || unset PIP_INDEX_URL; \
    if [ -n "${TORCH_INDEX_URL}" ]; then \
        pip install --index-url "${TORCH_INDEX_URL}" ${TORCH_SPEC}; \
    else \
        pip install ${TORCH_SPEC}; \
    fi

# 2. the other dependencies, read from the two pyproject files (rebuilt only when they change)
WORKDIR /src
COPY pyproject.toml ./pyproject.toml
COPY clients/python/pyproject.toml ./clients/python/pyproject.toml
RUN set -eux; \
    [ -n "${PIP_INDEX_URL}" ] || unset PIP_INDEX_URL; \
    python -c 'import sys, tomllib; print("\n".join(d for p in sys.argv[1:] for d in tomllib.load(open(p, "rb"))["project"]["dependencies"]))' \
        pyproject.toml clients/python/pyproject.toml > /tmp/requirements.txt; \
    cat /tmp/requirements.txt; \
    pip install -r /tmp/requirements.txt ${TORCH_SPEC}

# 3. the project itself (server + client), no dependency resolution left to do
COPY README.md ./README.md
COPY server ./server
COPY clients/python ./clients/python
RUN set -eux; \
    [ -n "${PIP_INDEX_URL}" ] || unset PIP_INDEX_URL; \
    pip install --no-deps . ./clients/python; \
    pip check; \
    python -c 'import specvlm.api.app, specvlm_client'; \
    specvlm serve --help > /dev/null

# ---------------------------------------------------------------------------------------------
# runtime: the base image + Python + the venv, running as a non-root user
# ---------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS runtime

ARG DEBIAN_FRONTEND=noninteractive
ARG APP_UID=1000
COPY docker/entrypoint.sh /usr/local/bin/specvlm-entrypoint
COPY docker/healthcheck.py /usr/local/bin/specvlm-healthcheck
RUN set -eux; \
    if ! python3 -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null \
       || [ ! -e /etc/ssl/certs/ca-certificates.crt ]; then \
        apt-get update; \
        apt-get install -y --no-install-recommends python3 ca-certificates; \
        rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb; \
    fi; \
    chmod 0755 /usr/local/bin/specvlm-entrypoint /usr/local/bin/specvlm-healthcheck; \
    existing="$(getent passwd "${APP_UID}" | cut -d: -f1 || true)"; \
    if [ -n "${existing}" ]; then userdel --remove "${existing}" 2>/dev/null || userdel "${existing}"; fi; \
    useradd --uid "${APP_UID}" --user-group --create-home --home-dir /home/specvlm --shell /bin/sh specvlm; \
    mkdir -p /cache/huggingface /cache/specvlm; \
    chown -R specvlm:specvlm /cache

COPY --from=builder /opt/venv /opt/venv

# NVIDIA_*: what the NVIDIA container toolkit injects (driver libraries, devices) on any base image.
# HF_HOME and SPECVLM_CACHE_DIR live on the /cache volume: downloaded checkpoints and the
# generated tiny demo pair survive container restarts.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    HF_HOME=/cache/huggingface \
    SPECVLM_CACHE_DIR=/cache/specvlm \
    SPECVLM_HOST=0.0.0.0 \
    SPECVLM_PORT=8000

VOLUME ["/cache"]
USER specvlm
WORKDIR /home/specvlm
EXPOSE 8000

# /health answers 503 while the models load: a 32B checkpoint downloaded on first start takes a
# while, hence the long start period (failures inside it do not count).
HEALTHCHECK --interval=30s --timeout=5s --start-period=600s --retries=3 \
    CMD ["specvlm-healthcheck"]

# No arguments: `specvlm serve`; arguments starting with '-': extra `specvlm serve` flags;
# `bench`, `make-tiny`, ...: other specvlm commands; anything else runs as is (e.g. `bash`).
ENTRYPOINT ["specvlm-entrypoint"]
CMD []
