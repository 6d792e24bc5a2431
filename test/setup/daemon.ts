// What the global setups share: a server process started in its own process group, logging to a file, awaited
// until its port listens, and stopped as a group (SIGTERM, then SIGKILL after a grace).
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync } from 'node:fs';
import { portOpen } from '../../infra/temporal/server.mjs';

export async function startDaemon(o: { name: string; bin: string; args: string[]; port: number; logFile: string; env?: NodeJS.ProcessEnv }): Promise<ChildProcess> {
  const out = openSync(o.logFile, 'a');
  const child = spawn(o.bin, o.args, { detached: true, stdio: ['ignore', out, out], env: o.env ?? process.env });
  child.unref();
  const deadline = Date.now() + 30_000;
  while (!(await portOpen('127.0.0.1', o.port))) {
    if (child.exitCode !== null) throw new Error(`${o.name} exited with ${child.exitCode}; see ${o.logFile}`);
    if (Date.now() > deadline) throw new Error(`${o.name} did not listen on ${o.port} within 30s; see ${o.logFile}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return child;
}

/** Stops a process group: SIGTERM, then SIGKILL once `graceMs` has passed. */
export async function stopGroup(child: ChildProcess, graceMs = 5_000): Promise<void> {
  try { process.kill(-child.pid!, 'SIGTERM'); } catch { return; }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    try { process.kill(-child.pid!, 0); } catch { return; }
    await new Promise((r) => setTimeout(r, 100));
  }
  try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* already gone */ }
}
