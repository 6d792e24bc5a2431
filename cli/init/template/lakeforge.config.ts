// This project's lakeforge configuration: where the lake is, which task queues its workers use, and the project's
// own step kinds (used in pipelines as `uses: <name>`). `lakeforge run|validate|worker|schedule` find this file in
// the current directory or any directory above it.
import { defineProject, pythonStep, z } from 'lakeforge';
import addTextLength from './steps/add-text-length.js';

export default defineProject({
  // A directory (relative to this file), file:///abs/dir, gs://bucket/prefix or s3://bucket/prefix. LAKEFORGE_LAKE overrides it.
  lake: '.lakeforge/lake',
  // The workers' task queues (LAKEFORGE_ETL_TASK_QUEUE / LAKEFORGE_GPU_TASK_QUEUE override them).
  queues: { etl: 'lakeforge-etl', gpu: 'lakeforge-gpu' },
  steps: [
    // A TypeScript step, run inside `lakeforge worker` (steps/add-text-length.ts).
    addTextLength,
    // A Python step: the script runs in the project's venv as a subprocess, like lakeforge's trainer.
    pythonStep({
      name: 'label-share',
      description: 'adds the share of the input that carries each row\'s label',
      script: 'steps/label_share.py',
      params: z.strictObject({ labelColumn: z.string().default('label') }),
    }),
  ],
});
