// The Web UI link the CLI prints follows the port the dev server was started on (LAKEFORGE_UI_PORT), also from a
// shell that does not set it: `lakeforge server start` records the UI's URL beside the server's pid.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startServer, stopServer, webUiUrl } from '../infra/temporal/server.mjs';
import { lakeforgeHome } from '../infra/tools.mjs';

const home = mkdtempSync(join(tmpdir(), 'lakeforge-ui-port-'));
// The Go-built tools of this checkout, not a second build.
symlinkSync(join(lakeforgeHome(), 'tools'), join(home, 'tools'));
let env: NodeJS.ProcessEnv;

/** The UI comes up beside the frontend, a moment after it. */
async function answers(url: string): Promise<boolean> {
  for (let i = 0; i < 50; i++) {
    try { if ((await fetch(url)).ok) return true; } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

afterAll(async () => {
  if (env) await stopServer({ env, log: () => {} });
  rmSync(home, { recursive: true, force: true });
});

describe('Web UI link', () => {
  it('uses the UI port the running dev server was started on', async () => {
    const [port, uiPort] = [await freePort(), await freePort()];
    env = { ...process.env, LAKEFORGE_HOME: home, TEMPORAL_ADDRESS: `127.0.0.1:${port}`, LAKEFORGE_UI_PORT: String(uiPort), LAKEFORGE_UI_URL: '' };
    await startServer({ env, log: () => {} });
    // Another shell: the same home, no UI port of its own.
    const other = { LAKEFORGE_HOME: home };
    expect(webUiUrl(other)).toBe(`http://localhost:${uiPort}`);
    expect(await answers(`http://127.0.0.1:${uiPort}/`)).toBe(true);
    // LAKEFORGE_UI_URL still wins (a proxy in front of the UI).
    expect(webUiUrl({ ...other, LAKEFORGE_UI_URL: 'https://temporal.example.com' })).toBe('https://temporal.example.com');
    await stopServer({ env, log: () => {} });
    env = undefined as never;
    // No server of ours running: the port asked for, else the default.
    expect(webUiUrl({ LAKEFORGE_HOME: home, LAKEFORGE_UI_PORT: '9999' })).toBe('http://localhost:9999');
    expect(webUiUrl({ LAKEFORGE_HOME: home })).toBe('http://localhost:8233');
  });
});
