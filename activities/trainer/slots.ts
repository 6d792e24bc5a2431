import { execFileSync } from 'node:child_process';

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
 * or `cpu`. Returns undefined when unset or blank so the caller detects.
 */
export function parseGpuSpec(spec: string | undefined): Slot[] | undefined {
  if (spec === undefined || spec.trim() === '') return undefined;
  const s = spec.trim();
  if (s.toLowerCase() === 'cpu') return [CPU_SLOT];
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

/**
 * Hands out slots to running activities, one each. The worker's maxConcurrentActivityTaskExecutions equals the slot
 * count, so an acquire normally finds a free slot at once; waiting covers the moment between an activity's end and
 * its slot's release. Waiters are served first come, first served; an aborted wait leaves the queue.
 */
export class SlotAllocator {
  private readonly free: Slot[];
  private readonly waiters: { resolve: (s: Slot) => void; reject: (e: unknown) => void }[] = [];

  constructor(readonly slots: readonly Slot[]) {
    if (slots.length === 0) throw new Error('a slot allocator needs at least one slot');
    this.free = [...slots];
  }

  get available(): number {
    return this.free.length;
  }

  async acquire(signal?: AbortSignal): Promise<Slot & { release: () => void }> {
    signal?.throwIfAborted();
    const slot =
      this.free.shift() ??
      (await new Promise<Slot>((resolve, reject) => {
        const w = { resolve, reject };
        this.waiters.push(w);
        signal?.addEventListener(
          'abort',
          () => {
            const i = this.waiters.indexOf(w);
            if (i >= 0) this.waiters.splice(i, 1);
            reject(signal.reason);
          },
          { once: true },
        );
      }));
    let released = false;
    return {
      ...slot,
      release: () => {
        if (released) return;
        released = true;
        const next = this.waiters.shift();
        if (next) next.resolve(slot);
        else this.free.push(slot);
      },
    };
  }
}
