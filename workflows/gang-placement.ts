// The broker's decisions as pure functions of its state (workflows/gang-broker.ts): which members are alive, which
// group goes next, and where its nodes go. Pure, so they are unit-tested without a server and replay trivially.
import type { GangBrokerState, GangMember, GangRequest } from '../contracts/gang.js';

export type LiveMember = GangMember & { seenAt: number };

/** Members whose last beat is within their lease. */
export function liveMembers(s: GangBrokerState, now: number): LiveMember[] {
  return Object.values(s.members).filter((m) => now - m.seenAt <= m.leaseMs).sort((a, b) => a.workerId.localeCompare(b.workerId));
}

/** Nodes of `perNode` slots an empty pool of these members holds. */
export function poolNodes(members: readonly GangMember[], perNode: number): number {
  return members.reduce((n, m) => n + Math.floor(m.slots / perNode), 0);
}

/**
 * Why a request can never be placed on this pool (no member has perNode slots), or undefined. An empty pool refuses
 * nothing: workers may still join.
 */
export function refusal(r: GangRequest, members: readonly GangMember[]): string | undefined {
  if (members.length === 0) return undefined;
  const largest = Math.max(...members.map((m) => m.slots));
  if (r.perNode <= largest) return undefined;
  return `with.resources.gpusPerNode is ${r.perNode}, but the largest GPU worker in the pool offers ${largest} slot(s) ` +
    '(LAKEFORGE_GPUS); ask for at most that many per node, or add larger workers';
}

/**
 * The request to admit next: the most urgent priority first; within one, the team with the smallest share of the
 * slots its groups hold now (weighted by fairnessWeight); then first come. A request larger than the whole live
 * pool waits aside (workers may join) instead of blocking the line.
 */
export function nextRequest(s: GangBrokerState, members: readonly GangMember[]): (GangBrokerState['pending'][number]) | undefined {
  const held = new Map<string, number>();
  for (const g of Object.values(s.grants)) {
    const k = g.request.fairnessKey ?? '';
    held.set(k, (held.get(k) ?? 0) + g.request.nnodes * g.request.perNode);
  }
  const share = (r: GangRequest) => (held.get(r.fairnessKey ?? '') ?? 0) / (r.fairnessWeight && r.fairnessWeight > 0 ? r.fairnessWeight : 1);
  return s.pending
    .filter((r) => poolNodes(members, r.perNode) >= r.nnodes)
    .sort((a, b) => a.priorityKey - b.priorityKey || share(a) - share(b) || a.seq - b.seq)[0];
}

/**
 * Where the group's nodes go, from the members' free slots: distinct workers first (most free first), then, only
 * when there are fewer workers with room than nodes, a second node on a worker with room for it. Undefined when the
 * group does not fit now: it then holds nothing and waits.
 */
export function place(r: GangRequest, members: readonly GangMember[]): { rank: number; member: GangMember }[] | undefined {
  const free = new Map(members.map((m) => [m.workerId, m.free]));
  const order = [...members].sort((a, b) => b.free - a.free || a.workerId.localeCompare(b.workerId));
  const out: { rank: number; member: GangMember }[] = [];
  for (let pass = 0; out.length < r.nnodes; pass++) {
    let placed = false;
    for (const m of order) {
      if (out.length >= r.nnodes) break;
      if ((free.get(m.workerId) ?? 0) < r.perNode) continue;
      free.set(m.workerId, free.get(m.workerId)! - r.perNode);
      out.push({ rank: out.length, member: m });
      placed = true;
    }
    if (!placed) return undefined;
  }
  return out;
}
