// Runs a program for a test: an argument array (no shell), its own process group, output collected, and the whole
// group killed after `timeoutMs`. `children` tracks the live ones for an afterAll that kills what is left.
import { spawn, type ChildProcess } from 'node:child_process';

export interface ExecResult { code: number | null; stdout: string; stderr: string }

export function killGroup(child: ChildProcess, sig: NodeJS.Signals = 'SIGKILL'): void {
  try { process.kill(-child.pid!, sig); } catch { /* already gone */ }
}

export function exec(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; children?: Set<ChildProcess> }): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    opts.children?.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => { stdout += d; });
    child.stderr!.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => killGroup(child), opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      opts.children?.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}

export const show = (r: ExecResult) => `exit ${r.code}\n${r.stdout}\n${r.stderr}`;
