// The production path on one machine: the full Temporal server (v1.29.1, built from the Go module proxy) on
// PostgreSQL with mTLS, started by infra/cluster/cluster.mjs into a fresh directory, and lakeforge's own worker
// processes connecting to it with client certificates.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Connection, type Client } from '@temporalio/client';
import { startCluster, stopCluster } from '../infra/cluster/cluster.mjs';
import { connectClient } from '../activities/common/temporal-connection.js';
import { REPO_ROOT } from '../activities/common/config.js';
import { createDuckDb } from '../activities/duckdb/instance.js';
import { openLake } from '../activities/lake/index.js';
import { generateTextClassification } from '../examples/generate-lib.js';
import { startPipeline } from '../sdk/pipelines.js';
import { smallNewsSpec } from './fixtures/pipeline-env.js';
import { TRAINER_PYTHON, waitFor } from './fixtures/training-helpers.js';
import { LakeforgePipeline } from '../contracts/search-attributes.js';

const RAW_FILES = 60;
const RAW_ROWS = 120_000;

interface WorkerProc { kind: 'etl' | 'gpu'; child: ChildProcess; log: () => string }

/** Alive and not a zombie. */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('Temporal cluster (PostgreSQL persistence and visibility, mTLS)', () => {
  let dir: string;
  let clientEnv: Record<string, string>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lf-cluster-'));
    const t0 = Date.now();
    const started = await startCluster({ env: { ...process.env, LAKEFORGE_CLUSTER_DIR: dir } });
    clientEnv = started.env;
    process.stderr.write(`[measure] cluster (PostgreSQL init + schemas + server) ready in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  }, 600_000);

  afterAll(async () => {
    if (dir) {
      await stopCluster({ env: { ...process.env, LAKEFORGE_CLUSTER_DIR: dir } });
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('3 ETL and 2 GPU worker processes run a 60-file pipeline over mTLS, clean fanned out; SIGKILL of an ETL worker mid-step loses and duplicates nothing', async () => {
    const base = await mkdtemp(join(tmpdir(), 'lf-fleet-'));
    const lakeUri = pathToFileURL(join(base, 'lake')).href;
    const suffix = Date.now().toString(36);
    const queues = { etl: `fleet-etl-${suffix}`, gpu: `fleet-gpu-${suffix}` };
    const procs: WorkerProc[] = [];
    let client: Client | undefined;
    const db = await createDuckDb({ tempDirectory: join(base, 'duckdb-tmp'), threads: 2 });
    const conn = await db.connect();
    try {
      await generateTextClassification({ lake: openLake(lakeUri, { home: base }), dataset: 'news', rows: RAW_ROWS, files: RAW_FILES, seed: 11 });

      const startWorker = async (kind: 'etl' | 'gpu', i: number) => {
        // Each worker process has its own home (staging cache, trainer runs), sharing only the lake and the venv.
        const home = join(base, `${kind}-${i}`);
        await mkdir(home, { recursive: true });
        if (kind === 'gpu') await symlink(dirname(dirname(TRAINER_PYTHON)), join(home, 'venv'));
        const child = spawn('npx', ['tsx', `workers/${kind}.ts`], {
          cwd: REPO_ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
          env: {
            ...process.env, ...clientEnv, LAKEFORGE_HOME: home, LAKEFORGE_LAKE: lakeUri,
            LAKEFORGE_ETL_TASK_QUEUE: queues.etl, LAKEFORGE_GPU_TASK_QUEUE: queues.gpu,
            LAKEFORGE_GPUS: '0', LAKEFORGE_DUCKDB_THREADS: '1', LAKEFORGE_DUCKDB_MEMORY: '1GB',
            LAKEFORGE_TRAINER_GRACE_S: '20', OMP_NUM_THREADS: '1',
          },
        });
        let out = '';
        child.stdout!.on('data', (b) => (out += b));
        child.stderr!.on('data', (b) => (out += b));
        procs.push({ kind, child, log: () => out });
      };
      for (let i = 0; i < 3; i++) await startWorker('etl', i);
      for (let i = 0; i < 2; i++) await startWorker('gpu', i);

      client = await connectClient({ ...process.env, ...clientEnv });
      const spec = smallNewsSpec((s) => {
        s.defaults = { heartbeatTimeout: '10s', retry: { initialInterval: '1s', maximumInterval: '5s' } };
        // The clean step fanned out over the three ETL workers: 15 batches of 4 files, 6 buckets.
        s.steps.find((x: { uses: string }) => x.uses === 'clean').with.partitions = { filesPerTask: 4, buckets: 6, concurrency: 6 };
        const train = s.steps.find((x: { uses: string }) => x.uses === 'train');
        train.with.hparams = { ...train.with.hparams, max_steps: 12, eval_every_steps: null };
        train.with.checkpointEverySteps = 6;
      });
      const t0 = Date.now();
      const handle = await startPipeline(client, spec, { lake: lakeUri, queues, runKey: `fleet-${suffix}` });

      // Kill a worker that is running a partition of the clean step, as soon as one is.
      const cleanHandle = client.workflow.getHandle(`${handle.workflowId}/clean`);
      const victim = await waitFor('an ETL worker running a clean partition', async () => {
        const d = await cleanHandle.describe().catch(() => undefined);
        const pa = d?.raw.pendingActivities?.find((a) => /shuffleCleanBatch|cleanBucket/.test(a.activityType?.name ?? '') && a.lastWorkerIdentity);
        const pid = pa ? Number(pa.lastWorkerIdentity!.split('@')[0]) : NaN;
        return Number.isFinite(pid) && running(pid) ? { pid, activityId: pa!.activityId! } : undefined;
      }, 240_000, 50);
      process.kill(victim.pid, 'SIGKILL');
      process.stderr.write(`[test] SIGKILLed ETL worker pid ${victim.pid} running clean partition activity ${victim.activityId}, ${((Date.now() - t0) / 1000).toFixed(1)} s into the run\n`);

      const result = await handle.result().catch(async (err) => {
        for (const p of procs) process.stderr.write(`--- ${p.kind} worker ${p.child.pid} ---\n${p.log().slice(-3000)}\n`);
        const d = await cleanHandle.describe().catch((e) => e);
        process.stderr.write(`--- clean child ---\n${JSON.stringify(d?.raw?.pendingActivities ?? d, null, 1).slice(0, 4000)}\n`);
        process.stderr.write(`--- server log ---\n${readFileSync(join(dir, 'server.log'), 'utf8').slice(-4000)}\n`);
        throw err;
      });
      process.stderr.write(`[measure] fleet run (3 ETL + 2 GPU workers, one ETL worker killed) finished in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
      expect(result.status).toBe('succeeded');

      // Exact accounting, read from the published Parquet, not from the manifests' own counts.
      const count = async (sql: string) => Number((await conn.runAndReadAll(sql)).getRows()[0][0]);
      const rawGlob = join(base, 'lake', 'raw', 'news', '*.parquet');
      const cleanDir = fileURLToPath(result.steps.clean.uri);
      const rejectsDir = cleanDir.replace('/clean/', '/rejects/');
      const rowsIn = await count(`SELECT count(*) FROM read_parquet('${rawGlob}')`);
      const rowsClean = await count(`SELECT count(*) FROM read_parquet('${cleanDir}/**/*.parquet')`);
      const rowsRejected = await count(`SELECT count(*) FROM read_parquet('${rejectsDir}/**/*.parquet')`);
      expect(rowsIn).toBe(RAW_ROWS);
      expect(rowsClean + rowsRejected).toBe(rowsIn);
      expect(result.steps.clean.rows).toBe(rowsClean);
      expect(await count(`SELECT count(*) - count(DISTINCT id) FROM read_parquet('${cleanDir}/**/*.parquet')`)).toBe(0);

      // The killed worker's step was retried elsewhere, and the work was spread over several workers.
      type Started = { identity?: string | null; attempt?: number | null; scheduledEventId?: unknown };
      const startsOf = async (h: typeof handle | typeof cleanHandle) => {
        const events = (await h.fetchHistory()).events ?? [];
        const scheduled = new Map(events.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => [Number(e.eventId), e.activityTaskScheduledEventAttributes!]));
        return events.filter((e) => e.activityTaskStartedEventAttributes).map((e) => {
          const st: Started = e.activityTaskStartedEventAttributes!;
          return { ...st, scheduled: scheduled.get(Number(st.scheduledEventId))! };
        });
      };
      const cleanStarts = await startsOf(cleanHandle);
      const started = [...(await startsOf(handle)), ...cleanStarts];
      // The partition the killed worker was running was retried, and finished elsewhere.
      const killed = cleanStarts.find((a) => a.scheduled.activityId === victim.activityId)!;
      expect(killed.attempt).toBeGreaterThanOrEqual(2);
      expect(killed.identity?.startsWith(`${victim.pid}@`)).toBe(false);
      const identities = new Set(started.map((a) => a.identity));
      process.stderr.write(`[test] activities completed by ${identities.size} worker(s): ${[...identities].join(', ')}; clean partitions by ${new Set(cleanStarts.map((a) => a.identity)).size}\n`);
      expect(identities.size).toBeGreaterThan(1);
      expect(new Set(cleanStarts.map((a) => a.identity)).size).toBeGreaterThanOrEqual(2);

      // PostgreSQL advanced visibility: the run is found by lakeforge's search attribute.
      const found = await waitFor('the run in a visibility query', async () => {
        const ids: string[] = [];
        for await (const w of client!.workflow.list({ query: `${LakeforgePipeline.name} = '${spec.name}' AND LakeforgeStatus = 'succeeded'` })) ids.push(w.workflowId);
        return ids.includes(handle.workflowId) ? ids : undefined;
      }, 30_000, 500);
      expect(found).toContain(handle.workflowId);
    } finally {
      for (const p of procs) {
        try { process.kill(-p.child.pid!, 'SIGKILL'); } catch { /* gone */ }
      }
      await client?.connection.close();
      conn.closeSync();
      db.closeSync();
      await rm(base, { recursive: true, force: true });
    }
  }, 900_000);

  it('is idempotent: a second start finds the running cluster', async () => {
    const again = await startCluster({ env: { ...process.env, LAKEFORGE_CLUSTER_DIR: dir } });
    expect(again.started).toBe(false);
    expect(again.env.TEMPORAL_ADDRESS).toBe(clientEnv.TEMPORAL_ADDRESS);
  }, 120_000);

  it('serves a client with a certificate from the cluster CA, and refuses one without', async () => {
    const address = clientEnv.TEMPORAL_ADDRESS;
    const ca = readFileSync(clientEnv.TEMPORAL_TLS_CA);
    const probe = async (opts: Parameters<typeof Connection.connect>[0]) => {
      const conn = await Connection.connect({ ...opts, connectTimeout: '5s' });
      try {
        return await conn.workflowService.getSystemInfo({});
      } finally {
        await conn.close();
      }
    };
    const info = await probe({
      address,
      tls: {
        serverNameOverride: 'localhost',
        serverRootCACertificate: ca,
        clientCertPair: { crt: readFileSync(clientEnv.TEMPORAL_TLS_CERT), key: readFileSync(clientEnv.TEMPORAL_TLS_KEY) },
      },
    });
    expect(info.serverVersion).toBe('1.29.1');
    expect(info.capabilities?.upsertMemo ?? true).toBeTruthy();
    // TLS without a client certificate: the handshake fails (requireClientAuth).
    await expect(probe({ address, tls: { serverNameOverride: 'localhost', serverRootCACertificate: ca } })).rejects.toThrow();
    // Plaintext: no TLS at all.
    await expect(probe({ address })).rejects.toThrow();
  }, 120_000);
});
