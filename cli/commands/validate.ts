// validate <pipeline.yaml>: parse and check a spec; nothing touches the server (no Temporal client is loaded).
import { loadPipelineFile } from '../../sdk/load-spec.js';
import { EXIT_OK } from './errors.js';
import { useProject } from '../../sdk/project.js';

const print = (s = '') => process.stdout.write(`${s}\n`);

export async function validateCommand(file: string, opts: { json?: boolean }): Promise<number> {
  // In a project, `uses: sql` files resolve against its root.
  const project = await useProject();
  const plan = loadPipelineFile(file, project);
  if (opts.json) {
    print(JSON.stringify({ valid: true, pipeline: plan.spec.name, steps: plan.steps.map((s) => ({ name: s.name, kind: s.kind, needs: s.needs, model: s.model })) }, null, 2));
  } else {
    print(`✔ ${file}: pipeline "${plan.spec.name}" is valid — ${plan.steps.length} step(s) on dataset "${plan.spec.dataset.name}"`);
    for (const s of plan.steps) print(`  ${s.name} (${s.kind})${s.needs.length ? ` ← ${s.needs.join(', ')}` : ''}${s.model ? `  model ${s.model}` : ''}`);
  }
  return EXIT_OK;
}
