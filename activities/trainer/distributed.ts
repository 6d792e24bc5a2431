// Multi-GPU train steps (docs/distributed-training.md): the `resources` parameter, and the trainer's command line
// under PyTorch's elastic launcher.
import { invalidPipeline } from '../../contracts/failures.js';
import type { TrainerMode } from './launcher.js';
import type { Resources } from '../../steps/train/params.js';
export { ResourcesSchema, type Resources } from '../../steps/train/params.js';

/** How the trainer is spread: one process (the plain launch) or N local ranks, optionally one node of several. */
export interface TorchrunOptions {
  nprocPerNode: number;
  /** Multi-node only: the group's size in nodes, and the c10d rendezvous the first worker published. */
  nnodes?: number;
  rdzvEndpoint?: string;
  rdzvId?: string;
  /** Multi-node: this node serves the c10d store at rdzvEndpoint (the one that published it); the others only connect. */
  rdzvHost?: boolean;
}

/** The slots a step needs, checked against this worker before anything is staged: more than it has is never retried. */
export function requiredSlots(resources: Resources | undefined, workerSlots: number, what: string): number {
  const n = resources?.gpusPerNode ?? resources?.gpus ?? 1;
  const field = resources?.gpusPerNode !== undefined ? 'with.resources.gpusPerNode' : 'with.resources.gpus';
  if (n > workerSlots) {
    throw invalidPipeline(`${what}: ${field} is ${n}, but this worker offers ${workerSlots} slot(s) (LAKEFORGE_GPUS); ` +
      'ask for at most that many, or run the step on a larger worker');
  }
  return n;
}

/**
 * The trainer's argument array (after the venv's python). One process: `-m lakeforge_trainer <mode> --config <path>`
 * (docs/design.md#the-trainer-protocol). Several: `-m lakeforge_trainer.launch <torch.distributed.run arguments> -m lakeforge_trainer ...`,
 * torch's own launcher, which only gains the trainer's exit codes (2, 75) that torch.distributed.run reports as 1.
 */
export function trainerArgv(mode: TrainerMode, configPath: string, torchrun?: TorchrunOptions): string[] {
  const trainer = ['lakeforge_trainer', mode, '--config', configPath];
  const n = torchrun?.nprocPerNode ?? 1;
  if (!torchrun || (n <= 1 && (torchrun.nnodes ?? 1) <= 1)) return ['-m', ...trainer];
  const group = (torchrun.nnodes ?? 1) > 1
    ? ['--nnodes', String(torchrun.nnodes), '--rdzv-backend', 'c10d', '--rdzv-endpoint', required(torchrun.rdzvEndpoint, 'rdzvEndpoint'),
        '--rdzv-id', required(torchrun.rdzvId, 'rdzvId'),
        // is_host: on one host (loopback tests) both agents match the endpoint's address and would race to serve it.
        '--rdzv-conf', `is_host=${torchrun.rdzvHost ? 1 : 0}`]
    : ['--standalone'];
  // max-restarts 0: a rank's death ends the group at once; the activity's retry resumes from the checkpoint.
  return ['-m', 'lakeforge_trainer.launch', '--nproc-per-node', String(n), ...group, '--max-restarts', '0',
    '--monitor-interval', '0.5', '-m', ...trainer];
}

/**
 * The launcher's own grace for its ranks (SIGTERM, then SIGKILL; torch's default is 30 s) follows the step's: a large
 * checkpoint on rank 0 must not be cut short by the agent before our own SIGKILL of the group would have come.
 */
export function torchrunEnv(graceMs: number): Record<string, string> {
  return { TORCH_ELASTIC_SHUTDOWN_TIMEOUT: String(Math.max(1, Math.ceil(graceMs / 1000))) };
}

function required(v: string | undefined, name: string): string {
  if (!v) throw new Error(`a multi-node launch needs ${name}`);
  return v;
}

/** Nodes a step spans: gpus / gpusPerNode (the schema checked that it divides); 1 without gpusPerNode. */
export function nodesOf(resources: Resources | undefined): number {
  if (!resources?.gpusPerNode) return 1;
  return Math.max(1, resources.gpus / resources.gpusPerNode);
}
