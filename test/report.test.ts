// report.html as people read it: a real train → evaluate → promote run makes a champion, a second model's evaluation
// renders the candidate beside its baselines and that champion, and headless Chromium shows the baseline row, the
// champion column, the PR curve and the lineage. Screenshot: test/artifacts/report.png.
import { describe, expect, it } from 'vitest';
import { useGpuTestEnv } from './fixtures/gpu-test-env.js';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { tinyTrainParams } from './fixtures/training-helpers.js';
import { prFromScores } from '../steps/evaluate/report-data.js';
import { num } from '../steps/evaluate/report-compare.js';
import type { TrainingTestArgs } from './fixtures/training-workflows.js';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
const SCREENSHOT = 'test/artifacts/report.png';

describe('precision-recall points', () => {
  it('match a hand count, ties are one threshold, and the 0.5 point is the arg-max', () => {
    const pr = prFromScores([[true, 0.9], [false, 0.8], [true, 0.8], [false, 0.3], [true, 0.2]], 'pos');
    expect(pr.points).toEqual([[1 / 3, 1], [2 / 3, 2 / 3], [2 / 3, 2 / 4], [1, 3 / 5]]);
    expect(pr.averagePrecision).toBeCloseTo((1 / 3) * 1 + (1 / 3) * (2 / 3) + (1 / 3) * (3 / 5), 12);
    expect(pr.atThreshold).toEqual({ precision: 2 / 3, recall: 2 / 3 });
  });
});

describe('report.html', () => {
  const gpu = useGpuTestEnv({ queue: 'gpu-report', features: { binary: true } });

  const run = (seed: number, promote: boolean) => {
    const a: TrainingTestArgs = {
      lake: gpu.tl.uri, runId: `report-${seed}-${Date.now()}`, model: 'rep', features: gpu.features, gpuQueue: gpu.gpuQueue,
      train: tinyTrainParams({ seed, hparams: { epochs: 1 } }), evaluate: {},
      ...(promote ? { promote: { metric: 'accuracy', threshold: 0, mustBeatBaseline: false } } : {}),
    };
    return gpu.server.client.workflow.execute('trainingTestWorkflow', { taskQueue: gpu.gpuQueue, workflowId: `report-${seed}-${Date.now()}`, args: [a] });
  };

  it('shows the candidate beside its baselines and the current champion', async () => {
    const first = await run(7, true);
    expect(first.promoted!.metrics!.promoted).toBe(1);
    const second = await run(8, false);
    const rel = `${gpu.tl.lake.relative(second.evaluated!.uri)}`;
    const html = (await gpu.tl.lake.readText(`${rel}/report.html`))!;
    const body = JSON.parse((await gpu.tl.lake.readText(`${rel}/metrics.json`))!);
    expect(html).toContain('baseline: TF-IDF + logistic regression');
    expect(html).toContain(`current champion ${first.trained.version}`);
    expect(html).toContain('Precision-recall');
    expect(html).toContain(gpu.features.version);
    expect(html).not.toMatch(/<script|<link|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    if (!hasChromium) {
      console.warn(`SKIPPING the report's browser check: ${CHROMIUM} is missing (apt-get install chromium)`);
      return;
    }
    const { chromium } = await import('playwright-core');
    const file = join(gpu.tl.home, 'report.html');
    writeFileSync(file, html);
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless=new', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      await page.goto(pathToFileURL(file).href);
      const baselineRow = page.locator('tr[data-system="baseline"]', { hasText: 'TF-IDF' });
      await baselineRow.waitFor({ state: 'visible' });
      // The row's accuracy cell is the baseline's own number.
      const cells = await baselineRow.locator('td').allInnerTexts();
      expect(cells).toContain(num(body.baselines.tfidf_logreg.headline.accuracy));
      expect(await page.locator('tr[data-system="baseline"]', { hasText: 'majority' }).isVisible()).toBe(true);
      const champCol = page.locator('th[data-column="champion"]');
      expect(await champCol.isVisible()).toBe(true);
      expect(await champCol.innerText()).toContain(first.trained.version);
      expect(await page.locator('svg[aria-label="precision-recall curve"]').isVisible()).toBe(true);
      expect(await page.getByRole('heading', { name: 'Lineage' }).isVisible()).toBe(true);
      mkdirSync('test/artifacts', { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      expect(existsSync(SCREENSHOT)).toBe(true);
    } finally {
      await browser.close();
    }
  });
});
