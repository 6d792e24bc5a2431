# syntax=docker/dockerfile:1
# The ETL worker (task queue lakeforge-etl): Node 20, DuckDB (prebuilt in @duckdb/node-api), no Python, no CUDA.
# Also runs the CLI: `docker run --rm IMAGE cli/main.ts list`.
#
#   docker build -f infra/docker/worker-cpu.Dockerfile -t lakeforge/worker-cpu:0.1.0 .
ARG NODE_IMAGE=node:20-bookworm-slim

# --- production node_modules (tsx runs the TypeScript as is; the Temporal worker bundles the workflows at start)
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --no-audit --no-fund

# --- runtime
FROM ${NODE_IMAGE} AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini ca-certificates \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    LAKEFORGE_HOME=/var/lib/lakeforge
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json ./
COPY activities ./activities
COPY workflows ./workflows
COPY workers ./workers
COPY cli ./cli
COPY sql ./sql
COPY infra ./infra
# Only the trainer's sources: their hash is part of train/evaluate versions, which the ETL cache probe recomputes.
COPY trainer/lakeforge_trainer ./trainer/lakeforge_trainer
# $LAKEFORGE_HOME (staging/, duckdb-tmp/) is an emptyDir in Kubernetes; here for `docker run` without one.
RUN mkdir -p /var/lib/lakeforge && chown 1000:1000 /var/lib/lakeforge
# uid 1000 is the image's `node` user; the Kubernetes manifests run as 1000:1000 too (runAsNonRoot needs a number).
USER 1000:1000
# tini as PID 1 forwards SIGTERM to node (which drains the worker) and reaps orphans; `node --import tsx` instead of
# the tsx CLI keeps node itself as the signalled process.
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--import", "tsx"]
CMD ["workers/etl.ts"]
