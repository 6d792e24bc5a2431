import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';

/** One accelerator slot a GPU worker offers: a GPU index, or the CPU when none is visible. */
export interface Slot {
  id: string;
  kind: 'gpu' | 'cpu';
  /** The value of CUDA_VISIBLE_DEVICES for a process holding this slot; '' hides every GPU (the CPU slot). */
  cudaVisibleDevices: string;
}

export const CPU_SLOT: Slot = { id: 'cpu', kind: 'cpu', cudaVisibleDevices: '' };

/**
 * Parses LAKEFORGE_GPUS: a count (`2` → GPUs 0 and 1; `0` → no GPU, one CPU slot), a comma list of device
 * indices or UUIDs (`1,3`; a single device is written with a trailing comma, `3,`, so it is not read as a count),
 * `cpu`, or `cpu:N` (N CPU slots). Returns undefined when unset or blank so the caller detects.
 */
export function parseGpuSpec(spec: string | undefined): Slot[] | undefined {
  if (spec === undefined || spec.trim() === '') return undefined;
  const s = spec.trim();
  if (s.toLowerCase() === 'cpu') return [CPU_SLOT];
  // `cpu:N`: N CPU slots, for data-parallel (gloo) train steps on a machine without GPUs.
  const cpus = /^cpu:(\d+)$/i.exec(s);
  if (cpus) {
    const n = Number.parseInt(cpus[1], 10);
    if (n < 1) throw new Error(`LAKEFORGE_GPUS=${spec}: cpu:N needs N >= 1`);
    return n === 1 ? [CPU_SLOT] : Array.from({ length: n }, (_, i) => ({ id: `cpu${i}`, kind: 'cpu' as const, cudaVisibleDevices: '' }));
  }
  if (/^\d+$/.test(s)) {
    const n = Number.parseInt(s, 10);
    if (n === 0) return [CPU_SLOT];
    return Array.from({ length: n }, (_, i) => gpuSlot(String(i)));
  }
  const ids = s.split(',').map((x) => x.trim()).filter((x) => x !== '');
  if (ids.length === 0 || ids.some((x) => !/^[\w-]+$/.test(x))) {
    throw new Error(`LAKEFORGE_GPUS must be a count, a comma list of device ids, or "cpu"; got ${JSON.stringify(spec)}`);
  }
  if (new Set(ids).size !== ids.length) throw new Error(`LAKEFORGE_GPUS lists a device twice: ${JSON.stringify(spec)}`);
  return ids.map(gpuSlot);
}

function gpuSlot(id: string): Slot {
  return { id, kind: 'gpu', cudaVisibleDevices: id };
}

/** GPU indices from `nvidia-smi -L` ("GPU 0: NVIDIA H100 ... (UUID: ...)"); [] when there is no nvidia-smi or no GPU. */
export function detectNvidiaGpus(run: () => string = () => execFileSync('nvidia-smi', ['-L'], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] })): string[] {
  let out: string;
  try {
    out = run();
  } catch {
    return [];
  }
  const ids: string[] = [];
  for (const line of out.split('\n')) {
    const m = /^GPU (\d+):/.exec(line.trim());
    if (m) ids.push(m[1]);
  }
  return ids;
}

/** The slots this worker offers: LAKEFORGE_GPUS, else the GPUs nvidia-smi lists, else one CPU slot. */
export function resolveSlots(spec: string | undefined, detect: () => string[] = detectNvidiaGpus): Slot[] {
  const fromEnv = parseGpuSpec(spec);
  if (fromEnv) return fromEnv;
  const gpus = detect();
  return gpus.length > 0 ? gpus.map(gpuSlot) : [CPU_SLOT];
}

/** Slots held together by one activity (a multi-GPU train step): released together. */
export interface SlotHold {
  slots: Slot[];
  release: () => void;
}

/**
 * Hands out slots to running activities: one each, or N at once for a multi-GPU step. The worker's
 * maxConcurrentActivityTaskExecutions equals the slot count, so an acquire normally finds its slots free at once;
 * waiting covers the moment between an activity's end and its slots' release, and a multi-slot step waiting for
 * slots other steps hold. An acquire is atomic (it holds all its slots or none: a 4-slot step never sits on 2 while
 * waiting for 2 more) and strictly first come, first served: a waiter is served only when every earlier waiter has
 * been, so a large step is never starved by a stream of small ones. An aborted wait leaves the queue.
 */
export class SlotAllocator {
  private readonly free: Slot[];
  private readonly waiters: { n: number; resolve: (s: Slot[]) => void; reject: (e: unknown) => void }[] = [];
  /** Slots set aside for a node of an admitted gang (workflows/gang-broker.ts), until its activity claims them. */
  private readonly reservations = new Map<string, { slots: Slot[]; timer: NodeJS.Timeout }>();
  private readonly listeners = new Set<() => void>();

  constructor(readonly slots: readonly Slot[]) {
    if (slots.length === 0) throw new Error('a slot allocator needs at least one slot');
    this.free = [...slots];
  }

  /** Slots a gang node holds or has reserved (the shared queue's task permits leave them out: workers/gpu.ts). */
  private gang = 0;

  get available(): number {
    return this.free.length;
  }

  get gangSlots(): number {
    return this.gang;
  }

  /** Called after every change of the free count (the gang member reports it to the broker). */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * N free slots set aside at once for a gang node, or null when they are not free now: never waits, so a gang that
   * cannot be placed holds nothing. Waiters come first (a reservation never jumps a queued step). Unclaimed after
   * `ttlMs` (the group died between its grant and its node's start), the slots go back.
   */
  tryReserve(n: number, ttlMs: number): { token: string; slots: Slot[] } | null {
    if (!Number.isInteger(n) || n < 1 || n > this.slots.length) return null;
    if (this.waiters.length > 0 || this.free.length < n) return null;
    const slots = this.take(n);
    const token = randomUUID();
    const timer = setTimeout(() => this.cancelReservation(token), ttlMs);
    timer.unref();
    this.reservations.set(token, { slots, timer });
    this.gang += n;
    this.changed();
    return { token, slots };
  }

  /** The reserved slots as a hold, released like any other; undefined when the token lapsed or is not this worker's. */
  claim(token: string): SlotHold | undefined {
    const r = this.reservations.get(token);
    if (!r) return undefined;
    clearTimeout(r.timer);
    this.reservations.delete(token);
    return this.hold(r.slots, true);
  }

  /** Gives an unclaimed reservation back; false when there is none under that token. */
  cancelReservation(token: string): boolean {
    const r = this.reservations.get(token);
    if (!r) return false;
    clearTimeout(r.timer);
    this.reservations.delete(token);
    this.gang -= r.slots.length;
    this.free.push(...r.slots);
    this.serve();
    this.changed();
    return true;
  }

  private changed(): void {
    for (const l of this.listeners) l();
  }

  async acquire(signal?: AbortSignal): Promise<Slot & { release: () => void }> {
    const hold = await this.acquireMany(1, signal);
    return { ...hold.slots[0], release: hold.release };
  }

  /** N slots at once (in the worker's order, so CUDA_VISIBLE_DEVICES lists them in order). */
  async acquireMany(n: number, signal?: AbortSignal): Promise<SlotHold> {
    if (!Number.isInteger(n) || n < 1 || n > this.slots.length) {
      throw new RangeError(`cannot hold ${n} slot(s): this worker has ${this.slots.length}`);
    }
    signal?.throwIfAborted();
    const held =
      this.waiters.length === 0 && this.free.length >= n
        ? this.take(n)
        : await new Promise<Slot[]>((resolve, reject) => {
            const w = { n, resolve, reject };
            this.waiters.push(w);
            signal?.addEventListener(
              'abort',
              () => {
                const i = this.waiters.indexOf(w);
                if (i >= 0) this.waiters.splice(i, 1);
                reject(signal.reason);
                this.serve(); // the head may have been the one blocking smaller waiters behind it
              },
              { once: true },
            );
          });
    this.changed();
    return this.hold(held);
  }

  private hold(held: Slot[], gang = false): SlotHold {
    let released = false;
    return {
      slots: held,
      release: () => {
        if (released) return;
        released = true;
        if (gang) this.gang -= held.length;
        this.free.push(...held);
        this.serve();
        this.changed();
      },
    };
  }

  private take(n: number): Slot[] {
    const order = new Map(this.slots.map((s, i) => [s.id, i]));
    this.free.sort((a, b) => order.get(a.id)! - order.get(b.id)!);
    return this.free.splice(0, n);
  }

  private serve(): void {
    while (this.waiters.length > 0 && this.free.length >= this.waiters[0].n) {
      const w = this.waiters.shift()!;
      w.resolve(this.take(w.n));
    }
  }
}

/** The slots of one multi-slot hold as one: its CUDA_VISIBLE_DEVICES lists every GPU ('' for CPU slots). */
export function combineSlots(slots: readonly Slot[]): Slot {
  if (slots.length === 1) return slots[0];
  const kind = slots.every((s) => s.kind === 'cpu') ? 'cpu' : 'gpu';
  return {
    id: slots.map((s) => s.id).join('+'),
    kind,
    cudaVisibleDevices: kind === 'cpu' ? '' : slots.map((s) => s.cudaVisibleDevices).join(','),
  };
}
