# syntax=docker/dockerfile:1
# The GPU worker (task queue lakeforge-gpu): Node 20 for the worker, and the trainer (lakeforge_trainer, PyTorch)
# in a venv at $LAKEFORGE_HOME/venv, where the train/evaluate activities launch it from (docs/design.md#the-trainer-protocol).
#
#   docker build -f infra/docker/worker-cuda.Dockerfile -t lakeforge/worker-cuda:0.1.0 .
#
# The PyTorch wheels bring their own CUDA runtime, cuDNN and NCCL; the CUDA base image only provides the NVIDIA
# container environment (driver capabilities, the CUDA version check). Keep its CUDA version at or below what the
# nodes' driver supports, and pick the matching torch build with TORCH_INDEX_URL (PyTorch's per-CUDA wheel index)
# when PyPI's default build targets a newer CUDA than the driver.
ARG NODE_IMAGE=node:20-bookworm-slim
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-base-ubuntu24.04

FROM ${NODE_IMAGE} AS node

# --- the common base: CUDA userspace + python3 + the node binary (built for glibc >= 2.28, so it runs on Ubuntu)
FROM ${CUDA_IMAGE} AS base
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv tini ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=node /usr/local/bin/node /usr/local/bin/node

# --- production node_modules, installed on the runtime's own base so native addons match its glibc
FROM base AS deps
COPY --from=node /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/npm
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    node /usr/local/lib/node_modules/npm/bin/npm-cli.js ci --omit=dev --no-audit --no-fund

# --- the trainer venv, at the path the runtime keeps (a venv is not relocatable)
FROM base AS trainer
ARG TORCH_INDEX_URL=""
COPY trainer /app/trainer
RUN --mount=type=cache,target=/root/.cache/pip \
    python3 -m venv /var/lib/lakeforge/venv \
 && /var/lib/lakeforge/venv/bin/pip install --disable-pip-version-check \
      ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} "/app/trainer[lora]"

# --- runtime
FROM base AS runtime
ENV NODE_ENV=production \
    LAKEFORGE_HOME=/var/lib/lakeforge \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=trainer /var/lib/lakeforge/venv /var/lib/lakeforge/venv
COPY package.json package-lock.json tsconfig.json ./
COPY activities ./activities
COPY workflows ./workflows
COPY workers ./workers
COPY cli ./cli
COPY sql ./sql
COPY infra ./infra
# The trainer's source too: the activities put it on PYTHONPATH and hash it into the step's code version.
COPY trainer ./trainer
# Writable parts of $LAKEFORGE_HOME (emptyDirs in Kubernetes); venv/ stays root-owned and read-only.
RUN mkdir -p /var/lib/lakeforge/runs /var/lib/lakeforge/staging /var/lib/lakeforge/duckdb-tmp \
 && chown 1000:1000 /var/lib/lakeforge/runs /var/lib/lakeforge/staging /var/lib/lakeforge/duckdb-tmp
# uid 1000 (`ubuntu` in Ubuntu 24.04 images); the Kubernetes manifests run as 1000:1000.
USER 1000:1000
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--import", "tsx"]
CMD ["workers/gpu.ts"]
