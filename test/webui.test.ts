// The Temporal Web UI in a real (headless) Chromium: a pipeline run is found through the UI's workflow list by its
// LakeforgePipeline search attribute, and its page shows the step table that the workflow publishes with
// setCurrentDetails (rendered by the UI from markdown into an iframe). Screenshot: test/artifacts/webui-run.png.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Worker } from '@temporalio/worker';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse } from 'yaml';
import type { DuckDBInstance } from '@duckdb/node-api';
import { createDuckDb } from '../activities/duckdb/instance.js';
import { createEtlActivities } from '../steps/index.js';
import { openLake } from '../activities/lake/index.js';
import { generateTextClassification } from '../examples/generate-lib.js';
import { startPipeline } from '../sdk/pipelines.js';
import { connectTestServer, uniqueTaskQueue, workflowBundle } from './helpers/temporal.js';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  console.warn(`\n${'!'.repeat(100)}\n!! SKIPPING the Web UI browser test: ${CHROMIUM} is missing. Install it with\n!!   apt-get update && apt-get install -y --no-install-recommends chromium\n!! (npm test's bootstrap does this when it runs as root).\n${'!'.repeat(100)}\n`);
}

const SCREENSHOT = 'test/artifacts/webui-run.png';
let server: Awaited<ReturnType<typeof connectTestServer>>;
let db: DuckDBInstance;
let tmp: string;

beforeAll(async () => {
  if (!hasChromium) return;
  server = await connectTestServer();
  tmp = mkdtempSync(join(tmpdir(), 'lakeforge-webui-'));
  db = await createDuckDb({ tempDirectory: join(tmp, 'duckdb'), threads: 1 });
});

afterAll(async () => {
  db?.closeSync();
  await server?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('Temporal Web UI (headless Chromium)', () => {
  it.skipIf(!hasChromium)('finds the run by LakeforgePipeline and shows the step table from current details', async () => {
    const { chromium } = await import('playwright-core');
    const pipeline = `webui-${Math.random().toString(36).slice(2, 8)}`;
    const lake = pathToFileURL(join(tmp, 'lake')).href;
    await generateTextClassification({ lake: openLake(lake, { home: tmp }), dataset: 'news', rows: 300, seed: 11 });
    const spec = { ...parse(readFileSync('test/fixtures/cli/news-etl.yaml', 'utf8')), name: pipeline };
    const queues = { etl: uniqueTaskQueue('webui-etl'), gpu: uniqueTaskQueue('webui-gpu') };
    const worker = await Worker.create({
      connection: server.nativeConnection, taskQueue: queues.etl, ...workflowBundle(),
      activities: createEtlActivities({ duckdb: db, home: tmp }),
    });
    // The worker keeps running while the browser looks: the UI reads current details through a query it answers.
    await worker.runUntil(async () => {
      const handle = await startPipeline(server.client, spec, { lake, queues, runKey: 'webui' });
      await handle.result();

      const ui = inject('temporalUiUrl');
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--no-sandbox', '--headless=new', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      });
      try {
        const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
        // The UI's workflow list, filtered by the search attribute.
        await page.goto(`${ui}/namespaces/default/workflows?query=${encodeURIComponent(`LakeforgePipeline="${pipeline}"`)}`);
        const link = page.getByRole('link', { name: handle.workflowId, exact: true });
        await link.first().waitFor({ timeout: 60_000 });
        expect(await page.getByRole('link', { name: new RegExp(`^lakeforge/${pipeline}/`) }).count()).toBe(1);
        await link.first().click();
        await page.getByRole('link', { name: 'User Metadata' }).or(page.getByRole('tab', { name: 'User Metadata' })).first().click();
        await page.getByText('Current Details').first().waitFor({ timeout: 30_000 });

        // The markdown is rendered by the UI server into an iframe (/render?content=…).
        const iframe = page.locator('iframe[src*="Step"]');
        await iframe.first().waitFor({ state: 'visible', timeout: 30_000 });
        const frame = page.frameLocator('iframe[src*="Step"]').first();
        await expect.poll(() => frame.locator('table thead th').allInnerTexts(), { timeout: 30_000 })
          .toEqual(['Step', 'Kind', 'State', 'Duration', 'Rows', 'Cache hit', 'Detail']);
        const rows = await frame.locator('table tbody tr').allInnerTexts();
        expect(rows).toHaveLength(2);
        expect(rows[0]).toMatch(/^clean\s+clean\s+succeeded\s+[\d.]+s\s+\d+\s+no\s+rows_in=300/);
        expect(rows[1]).toMatch(/^features\s+features\s+succeeded/);
        expect(await frame.locator('h3').innerText()).toBe(`lakeforge pipeline ${pipeline} — succeeded`);
        // The run's static summary is shown beside it.
        await expect.poll(() => page.locator('iframe[src*="render"]').count()).toBeGreaterThanOrEqual(2);

        mkdirSync('test/artifacts', { recursive: true });
        await page.screenshot({ path: SCREENSHOT, fullPage: true });
        expect(existsSync(SCREENSHOT)).toBe(true);
      } finally {
        await browser.close();
      }
    });
  });
});
