// A project's TypeScript step (defineStep) through the kernel: the version covers the params, the input versions
// and the step's code (its declared version, else a hash of its source file); the step's `run` gets a work
// directory, its inputs as DuckDB views, progress and cancellation; the kernel describes, checks and publishes.
import { readFile } from 'node:fs/promises';
import { log as activityLog } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { FailureType, invariantViolated } from '../../contracts/failures.js';
import type { StepDefinition } from '../../contracts/step-kind.js';
import type { UserKind } from '../../contracts/user-kind.js';
import { RESERVED_LAKE_DIRS } from '../../contracts/lake-layout.js';
import { buildManifest, datasetName, lakeJoin, type Manifest } from '../../activities/lake/index.js';
import { quoteIdent, quoteLiteral } from '../../activities/duckdb/sql.js';
import { parquetRows, parquetSchema, withConnection, type EtlDeps } from '../../activities/duckdb/files.js';
import { currentContext } from '../../activities/kernel/context.js';
import type { StepImpl } from '../../activities/kernel/lifecycle.js';
import { describeOutput } from '../../activities/kernel/publish.js';
import { stageObjects } from '../../activities/kernel/stage.js';
import { sha256Hex, stepVersion } from '../../activities/kernel/version.js';
import type { StepKind } from '../registry.js';
import type { StepInputView, TsStep } from './define.js';
import { checkWorkDir } from './confine.js';

/** The registry entry of a project kind (its params schema is the real one on the worker). */
export function userDefinition(k: UserKind, params: StepDefinition['params']): StepDefinition {
  return {
    kind: k.kind, description: k.description, params, inputs: k.inputs, queue: k.queue, model: 'none',
    timeout: k.timeout as StepDefinition['timeout'], heartbeatTimeout: k.heartbeatTimeout as StepDefinition['heartbeatTimeout'], retry: k.retry,
  };
}

/** A step's code version: its declared version, else the sha256 of its source file. */
export async function codeVersionOf(step: { version?: string; name: string }, sourceFile: string | undefined): Promise<string> {
  if (step.version) return `declared:${step.version}`;
  if (!sourceFile) throw invariantViolated(`step ${step.name}: no source file to version it by; set \`version\``);
  return `source:${sha256Hex(await readFile(sourceFile)).slice(0, 16)}`;
}

/** Where a project step publishes: `<step name>/<dataset>/<version>/`, never one of the lake's own trees. */
export function userOutputRel(stepName: string, dataset: string, version: string): string {
  if ((RESERVED_LAKE_DIRS as readonly string[]).includes(stepName)) {
    throw ApplicationFailure.create({ type: FailureType.InvalidPipeline, nonRetryable: true, message: `step name "${stepName}" is reserved for the lake layout: rename the step` });
  }
  return lakeJoin(stepName, datasetName(dataset), version);
}

interface State { codeVersion: string }

export function tsStepImpl(step: TsStep, kind: UserKind): StepImpl<StepKind, EtlDeps, State> {
  const definition = userDefinition(kind, step.params);
  return {
    kind: step.name as StepKind,
    definition,
    async plan({ input, params, upstream }) {
      const codeVersion = await codeVersionOf(step, step.source);
      const inputs = Object.values(upstream).map((u) => u.manifest.version);
      const version = stepVersion({ step: step.name, codeVersion, inputs, params, sql: {} });
      return { version, outputs: [userOutputRel(input.step, input.dataset, version)], state: { codeVersion } };
    },
    async compute({ input, params, deps, lake, control, upstream, version, workDirs: [workDir], state }) {
      return withConnection(deps, async (conn) => {
        const inputs: Record<string, StepInputView> = {};
        let rowsIn = 0;
        for (const [role, u] of Object.entries(upstream)) {
          const staged = (await stageObjects(lake, control, u.objects)).filter((f) => f.path.endsWith('.parquet'));
          rowsIn += u.manifest.rows;
          const files = staged.map((f) => f.local);
          if (files.length) {
            await conn.run(`CREATE OR REPLACE TEMP VIEW ${quoteIdent(role)} AS SELECT * FROM read_parquet([${files.map(quoteLiteral).join(', ')}], union_by_name = true)`);
          }
          const ref = (input.inputs as Record<string, { uri: string; version: string }>)[role];
          inputs[role] = { uri: ref.uri, version: ref.version, manifest: u.manifest, files, relation: role };
        }
        let result;
        try {
          result = await step.run({
            params, inputs, workDir, duckdb: conn, step: input.step, dataset: input.dataset, signal: control.signal,
            progress: (details) => control.heartbeat({ stage: 'run', ...details }),
            log: currentContext() ? activityLog : { info: () => {}, warn: () => {} },
          });
        } catch (err) {
          if (err instanceof ApplicationFailure) throw err;
          // Retryable: a step that calls a service may succeed next time; a step throws a nonRetryable
          // ApplicationFailure (or BadInput from lakeforge) when it knows retrying cannot help.
          throw ApplicationFailure.create({
            type: FailureType.UserStepFailed, nonRetryable: false,
            message: `step ${step.name} (${step.source}) threw: ${(err as Error)?.message ?? String(err)}`,
            cause: err instanceof Error ? err : undefined,
          });
        }
        await checkWorkDir(workDir, step.name);
        const files = await describeOutput(workDir, async (abs) => (abs.endsWith('.parquet') ? parquetRows(conn, control, abs) : 0));
        if (!files.some((f) => f.path.endsWith('.parquet'))) {
          throw ApplicationFailure.create({ type: FailureType.BadInput, nonRetryable: true, message: `step ${step.name} (${step.source}) wrote no Parquet file into its work directory` });
        }
        const rowsOut = files.reduce((s, f) => s + f.rows, 0);
        if (step.conserveRows && rowsOut !== rowsIn) {
          throw ApplicationFailure.create({ type: FailureType.BadInput, nonRetryable: true, message: `step ${step.name} declares conserveRows, but wrote ${rowsOut} rows from ${rowsIn}` });
        }
        const first = files.find((f) => f.path.endsWith('.parquet'))!;
        const schema = await parquetSchema(conn, control, `${workDir}/${first.path}`);
        const manifest: Manifest = buildManifest({
          version, step: step.name, inputs: Object.values(upstream).map((u) => u.manifest.version), params, files, schema,
          extra: {
            output: input.step, dataset: datasetName(input.dataset), codeVersion: state.codeVersion,
            metrics: { rows_in: rowsIn, rows_out: rowsOut, ...(result && result.metrics ? result.metrics : {}) },
          },
        });
        return [manifest];
      });
    },
  };
}
