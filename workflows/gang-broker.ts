// The slot broker of one GPU queue (docs/distributed-training.md#gang-placement): a long-lived workflow that admits
// multi-node train groups whole or not at all. GPU workers beat into it (their own task queue, slots, free slots);
// a group asks with gangRequest and is answered gangGranted with one reservation per node, each on a named worker.
// A group that does not fit holds nothing and waits; the most urgent (then the fairest, then the oldest) goes first.
// Its state is workflow state: a restart of any worker loses nothing, and continue-as-new carries it over.
// Deterministic: activities come in as types only; the clock is the workflow's.
import {
  ActivityFailure, condition, continueAsNew, getExternalWorkflowHandle, patched, proxyActivities, setHandler, TimeoutFailure,
  workflowInfo,
} from '@temporalio/workflow';
import type { GangActivities } from '../activities/trainer/gang.js';
import {
  gangBeatSignal, gangGrantedSignal, gangLeaveSignal, gangRefusedSignal, gangReleaseSignal, gangRequestSignal, gangStateQuery,
  type GangBrokerInput, type GangBrokerState, type GangNodePlacement, type GangReservation,
} from '../contracts/gang.js';
import { liveMembers, nextRequest, place, refusal } from './gang-placement.js';

const RETRY_BUSY_MS = 2_000;
/** Histories recorded before it waited for a full history too: they replay as they ran. */
export const GANG_BROKER_HISTORY_WAKE_PATCH = 'gang-broker-wakes-on-full-history';

export async function gangBrokerWorkflow(input: GangBrokerInput): Promise<void> {
  const s: GangBrokerState = input.state ?? { members: {}, pending: [], grants: {}, seq: 0, admitted: 0 };
  const ttlMs = input.reservationTtlMs ?? 60_000;
  let dirty = true;
  // Beats that change nothing still land in the history (one signal and one workflow task each) while the loop
  // sleeps, so a full history must wake it too, or an idle broker grows without bound.
  const wakeOnFullHistory = patched(GANG_BROKER_HISTORY_WAKE_PATCH);
  const historyFull = () => {
    const info = workflowInfo();
    return info.continueAsNewSuggested || info.historyLength > (input.maxHistoryEvents ?? 2_000);
  };
  // Grants asked for again (the group's first answer was lost, or it asked before it heard): answered again.
  const resend = new Set<string>();
  const woken = () => dirty || resend.size > 0 || (wakeOnFullHistory && historyFull());

  setHandler(gangBeatSignal, (m) => {
    const known = s.members[m.workerId];
    s.members[m.workerId] = { ...m, seenAt: Date.now() };
    // Only news that can admit someone wakes the loop: a new worker, or more free slots.
    if (s.pending.length > 0 && (!known || m.free > known.free || Date.now() - known.seenAt > known.leaseMs)) dirty = true;
  });
  setHandler(gangLeaveSignal, ({ workerId }) => {
    delete s.members[workerId];
  });
  setHandler(gangRequestSignal, (r) => {
    if (s.grants[r.groupId]) resend.add(r.groupId);
    else if (!s.pending.some((p) => p.groupId === r.groupId)) s.pending.push({ ...r, seq: s.seq++, since: Date.now() });
    dirty = true;
  });
  setHandler(gangReleaseSignal, ({ groupId }) => {
    delete s.grants[groupId];
    s.pending = s.pending.filter((p) => p.groupId !== groupId);
    dirty = true;
  });
  setHandler(gangStateQuery, () => s);

  const worker = ({ queue }: { queue: string }) => proxyActivities<GangActivities>({
    taskQueue: queue,
    // A worker that died without a word never polls its queue: the round fails fast and the worker is dropped.
    scheduleToStartTimeout: '10 seconds',
    startToCloseTimeout: '10 seconds',
    retry: { maximumAttempts: 1 },
  });

  const answer = async (replyTo: string, grant: { groupId: string; nodes: GangNodePlacement[] }) => {
    try {
      await getExternalWorkflowHandle(replyTo).signal(gangGrantedSignal, grant);
      return true;
    } catch {
      return false; // the group is gone (finished, cancelled, terminated)
    }
  };

  for (;;) {
    let busy = false;
    for (const groupId of resend) {
      const g = s.grants[groupId];
      if (g) await answer(g.request.replyTo, { groupId, nodes: g.nodes });
    }
    resend.clear();

    for (;;) {
      const now = Date.now();
      for (const m of Object.values(s.members)) if (now - m.seenAt > m.leaseMs * 10) delete s.members[m.workerId];
      const live = liveMembers(s, now);
      // A node larger than every worker can never be placed: said at once, not left waiting.
      for (const p of [...s.pending]) {
        const why = refusal(p, live);
        if (!why) continue;
        s.pending = s.pending.filter((q) => q !== p);
        await getExternalWorkflowHandle(p.replyTo).signal(gangRefusedSignal, { groupId: p.groupId, message: why }).catch(() => {});
      }
      const r = nextRequest(s, live);
      if (!r) break;
      const plan = place(r, live);
      if (!plan) break; // the head waits for room; nothing behind it jumps the line
      // One round: every node's slots reserved on its worker at once. Any miss gives the others back.
      const got = await Promise.all(plan.map(({ member }) =>
        worker(member).reserveGangSlots({ slots: r.perNode, ttlMs }).then(
          (res: GangReservation) => res,
          (err: unknown) => (err instanceof ActivityFailure && err.cause instanceof TimeoutFailure ? 'gone' as const : 'error' as const),
        )));
      const tokens = got.map((g) => (typeof g === 'object' && 'token' in g ? g.token : undefined));
      if (tokens.every((t) => t !== undefined)) {
        const nodes = plan.map(({ rank, member }, i) => ({ rank, workerId: member.workerId, queue: member.queue, token: tokens[i]! }));
        s.pending = s.pending.filter((p) => p !== r);
        for (const { member } of plan) if (s.members[member.workerId]) s.members[member.workerId].free -= r.perNode;
        const { seq: _seq, since: _since, ...request } = r;
        s.grants[r.groupId] = { request, nodes, at: Date.now() };
        s.admitted++;
        if (!(await answer(r.replyTo, { groupId: r.groupId, nodes }))) {
          delete s.grants[r.groupId];
          await Promise.all(nodes.map((n) => worker(n).releaseGangSlots({ token: n.token }).catch(() => false)));
        }
        continue;
      }
      await Promise.all(plan.map(({ member }, i) => {
        const g = got[i];
        if (tokens[i]) return worker(member).releaseGangSlots({ token: tokens[i]! }).catch(() => false);
        // What the worker said is fresher than its last beat; a worker that never answered is gone.
        if (g === 'gone') delete s.members[member.workerId];
        else if (typeof g === 'object' && 'busy' in g && s.members[member.workerId]) s.members[member.workerId].free = g.free;
        return undefined;
      }));
      busy = true;
      break;
    }

    if (historyFull()) await continueAsNew<typeof gangBrokerWorkflow>({ ...input, state: s });
    dirty = false;
    // A busy round is retried on news (a release, a beat with more free slots) or after a short while.
    if (busy) await condition(woken, RETRY_BUSY_MS);
    else await condition(woken);
  }
}
