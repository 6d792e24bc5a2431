import { RESERVED_LAKE_DIRS } from '../../contracts/lake-layout.js';
import { defineKind } from '../../contracts/step-kind.js';
import { SqlParamsSchema } from './params.js';

/** sql: a SELECT from the project's sql/ over one upstream ETL output → <output>/<dataset>/<v>/. */
export const sqlKind = defineKind({
  kind: 'sql',
  description: "A SELECT from the project's sql/ directory over the view `input` (one upstream ETL step's output)",
  params: SqlParamsSchema,
  inputs: { input: { kinds: ['clean', 'features', 'sql', 'user'] } },
  queue: 'etl',
  timeout: '2h',
  heartbeatTimeout: '2m',
  retry: { maximumAttempts: 5 },
  model: 'none',
  // The output directory defaults to the step's name, which must then not be one of the lake's own trees.
  check: (params, { stepName }) => {
    const output = params.output ?? stepName;
    if ((RESERVED_LAKE_DIRS as readonly string[]).includes(output)) {
      return { params, errors: [{ path: ['name'], message: `a sql step publishes under <output>/<dataset>/, and "${output}" is reserved for the lake layout: rename the step or set with.output` }] };
    }
    return { params: { ...params, output }, errors: [] };
  },
});
