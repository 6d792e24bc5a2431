// Multi-node train steps (docs/distributed-training.md#3-several-machines): where node 0 publishes the c10d
// rendezvous address, and how the other nodes find it. The lake is the one store every GPU worker already reaches.
import { createServer } from 'node:net';
import { hostname } from 'node:os';
import { z } from 'zod';
import { trainerCrashed } from '../../contracts/failures.js';
import type { LakeStorage } from '../lake/types.js';
import { lakeJoin } from '../lake/paths.js';
// The lake's scratch root (activities/kernel/partitions.ts WORK_ROOT), not imported: that module loads DuckDB helpers.
const WORK_ROOT = '_work';

/** This node's place in its group, from the distributed-train workflow. */
export const TrainNodeSchema = z.strictObject({
  rank: z.number().int().min(0),
  nnodes: z.number().int().min(2),
  /** One per group attempt: a retried group never joins the rendezvous of a dead one. */
  rdzvId: z.string().regex(/^[\w.-]+$/, 'rdzvId: letters, digits, _ . - only'),
  /** The group's attempt (1 = start afresh, more = resume from the newest lake checkpoint). */
  attempt: z.number().int().min(1),
  /** Gang placement: the slots the broker reserved for this node on this worker (SlotAllocator.claim). */
  reservation: z.string().min(1).optional(),
});
export type TrainNode = z.infer<typeof TrainNodeSchema>;

const RendezvousSchema = z.object({ endpoint: z.string().min(3), rdzvId: z.string(), publishedAt: z.string() });

export function rendezvousPath(runId: string, step: string, rdzvId: string): string {
  return lakeJoin(WORK_ROOT, 'rendezvous', runId, step, `${rdzvId}.json`);
}

/** The address other hosts reach this worker on: LAKEFORGE_RDZV_HOST (a pod IP on k8s), else the hostname. */
export function rendezvousHost(env: NodeJS.ProcessEnv = process.env): string {
  return env.LAKEFORGE_RDZV_HOST?.trim() || hostname();
}

/**
 * A port free on `host` now. The launcher binds it a moment later (c10d's store is created by torch, not by us),
 * so another process could take it in between; the rendezvous then fails, the group fails, and its retry gets a
 * new port.
 */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen({ host, port: 0, exclusive: true }, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error(`could not bind a port on ${host}`))));
    });
  });
}

export async function publishRendezvous(lake: LakeStorage, runId: string, step: string, rdzvId: string, endpoint: string): Promise<void> {
  await lake.writeText(rendezvousPath(runId, step, rdzvId), JSON.stringify({ endpoint, rdzvId, publishedAt: new Date().toISOString() }));
}

/**
 * Polls for node 0's address until it is there or `signal` aborts (the activity's cancellation: the workflow gave
 * up on the group). `beat` keeps the heartbeat alive while node 0 waits for its slots.
 */
export async function awaitRendezvous(lake: LakeStorage, runId: string, step: string, rdzvId: string, opts: { signal?: AbortSignal; beat?: () => void; everyMs?: number; timeoutMs?: number } = {}): Promise<string> {
  const rel = rendezvousPath(runId, step, rdzvId);
  const timeoutMs = opts.timeoutMs ?? rendezvousTimeoutMs();
  const end = Date.now() + timeoutMs;
  for (;;) {
    opts.signal?.throwIfAborted();
    // Node 0 never got a slot (or died before publishing): give this node's slots back; the group is retried.
    if (Date.now() > end) throw trainerCrashed(`rendezvous ${rdzvId}: node 0 published no address within ${Math.round(timeoutMs / 1000)} s (LAKEFORGE_RDZV_TIMEOUT_S)`);
    const text = await lake.readText(rel);
    if (text !== null) {
      // A half-written object (a lake without atomic writes) parses badly: read it again next time.
      const parsed = RendezvousSchema.safeParse((() => { try { return JSON.parse(text); } catch { return null; } })());
      if (parsed.success) return parsed.data.endpoint;
    }
    opts.beat?.();
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, opts.everyMs ?? 250);
      opts.signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
    });
  }
}

/** How long a node waits for node 0's address: LAKEFORGE_RDZV_TIMEOUT_S, default 600 (c10d's own join timeout). */
export function rendezvousTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const s = Number(env.LAKEFORGE_RDZV_TIMEOUT_S ?? 600);
  return (Number.isFinite(s) && s > 0 ? s : 600) * 1000;
}

/** Drops a group's rendezvous object once the group is over (tiny, but `_work/` should not grow). */
export async function clearRendezvous(lake: LakeStorage, runId: string, step: string, rdzvId: string): Promise<void> {
  await lake.removeObject(rendezvousPath(runId, step, rdzvId)).catch(() => {});
}
