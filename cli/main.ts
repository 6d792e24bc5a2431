// The `lakeforge` command line (commander). Exit codes: 0 success, 1 the run or operation failed, 2 invalid input.
// Errors are one line plus their cause; LAKEFORGE_DEBUG=1 adds the stack trace.
import { Command, CommanderError, Option } from 'commander';
import { LAKEFORGE_VERSION } from '../activities/common/config.js';
import { EXIT_INVALID, describeError } from './commands/errors.js';

const collect = (value: string, previous: string[]) => [...previous, value];

export function buildProgram(setCode: (code: number) => void): Command {
  const program = new Command('lakeforge')
    .description('Durable Temporal pipelines from a Parquet lake to trained, evaluated and promoted models.')
    .version(LAKEFORGE_VERSION)
    .showSuggestionAfterError()
    .exitOverride()
    .addHelpText('after', `
Environment: TEMPORAL_ADDRESS (127.0.0.1:7233), TEMPORAL_NAMESPACE (default), LAKEFORGE_LAKE, LAKEFORGE_ETL_TASK_QUEUE,
LAKEFORGE_GPU_TASK_QUEUE, LAKEFORGE_DEBUG=1 (stack traces). Exit codes: 0 success, 1 run failed, 2 invalid input.

Examples:
  lakeforge init my-project
  lakeforge server start
  lakeforge worker &
  lakeforge run examples/pipelines/reviews.yaml --wait
  lakeforge list --pipeline reviews --status failed
  lakeforge schedule create examples/pipelines/reviews.yaml --cron "0 3 * * *"`);
  // Subcommands inherit exitOverride so usage errors come back to main() and exit 2.
  const sub = (parent: Command, name: string) => parent.command(name).exitOverride();
  const act = <A extends unknown[]>(fn: (...args: A) => number | Promise<number>) => async (...args: A) => setCode(await fn(...args));

  sub(program, 'init')
    .description('scaffold a lakeforge project: lakeforge.config.ts, pipelines/, sql/, steps/, package.json, README')
    .argument('<dir>')
    .option('--lakeforge <spec>', 'the lakeforge dependency: a version or range, or a path to a tarball from `npm run pack` (default: this version)')
    .option('--force', 'scaffold into a directory that is not empty (overwrites the scaffold\'s own files)')
    .action(act(async (dir: string, o: { lakeforge?: string; force?: boolean }) => (await import('./commands/init.js')).initCommand(dir, o)));

  sub(program, 'setup')
    .description('create the trainer\'s Python venv ($LAKEFORGE_HOME/venv, default .lakeforge/venv) from the trainer in this package')
    .option('--python <path>', 'the Python to create the venv with (default python3)')
    .option('--extras <list>', 'trainer extras to install too, e.g. lora')
    .action(act(async (o: { python?: string; extras?: string }) => (await import('./commands/setup.js')).setupCommand(o)));

  sub(program, 'generate')
    .description('write a deterministic dirty sample dataset into the lake (raw/<dataset>/); kept if already there')
    .argument('<dataset>')
    .option('-n, --rows <n>', 'rows', '4000')
    .option('--seed <n>', 'random seed', '42')
    .option('--task <task>', 'text (text classification) or ner (token classification)', 'text')
    .option('--lake <uri>', 'lake root; default the project\'s, else LAKEFORGE_LAKE')
    .option('--force', 'regenerate a dataset that is already there')
    .action(act(async (dataset: string, o: { rows: string; seed: string; task: string; lake?: string; force?: boolean }) => (await import('./commands/generate.js')).generateCommand(dataset, o)));

  sub(program, 'validate')
    .description('check a pipeline spec without running anything (exit 2 with the field and line at fault)')
    .argument('<pipeline.yaml>')
    .option('--json', 'print the plan as JSON')
    .action(act(async (file: string, o: { json?: boolean }) => (await import('./commands/validate.js')).validateCommand(file, o)));

  sub(program, 'run')
    .description('start a pipeline run; prints its workflow id and Web UI link')
    .argument('<pipeline.yaml>')
    .option('-w, --wait', 'show live progress until the run ends; exit 0 if it succeeded, 1 if not')
    .option('--lake <uri>', 'lake root (file:///dir, gs://bucket/prefix, s3://bucket/prefix or a directory); overrides the spec and LAKEFORGE_LAKE')
    .option('--run-key <key>', 'run key: the workflow id is lakeforge/<pipeline>/<key> (default: a timestamp)')
    .option('--priority <1-5>', 'task priority of the run: 1 most urgent … 5 lowest (default: the spec\'s, else 3)')
    .action(act(async (file: string, o: { wait?: boolean; lake?: string; runKey?: string; priority?: string }) => (await import('./commands/pipeline.js')).runCommand(file, o)));

  sub(program, 'status')
    .description('a run\'s state and step table (exit 1 if the run failed or was cancelled)')
    .argument('<workflow-id>')
    .option('--json', 'machine-readable output')
    .action(act(async (id: string, o: { json?: boolean }) => (await import('./commands/runs.js')).statusCommand(id, o)));

  sub(program, 'list')
    .description('recent runs, found through lakeforge\'s search attributes')
    .option('-p, --pipeline <name>', 'only this pipeline (LakeforgePipeline)')
    .addOption(new Option('-s, --status <status>', 'only runs in this state (LakeforgeStatus)').choices(['running', 'succeeded', 'failed', 'cancelled']))
    .option('-q, --query <visibility query>', 'an extra visibility query clause, ANDed')
    .option('-n, --limit <n>', 'at most this many runs', '20')
    .option('--json', 'machine-readable output')
    .action(act(async (o: { pipeline?: string; status?: string; query?: string; limit?: string; json?: boolean }) => (await import('./commands/runs.js')).listCommand(o)));

  const lake = sub(program, 'lake').description('lake maintenance');
  sub(lake, 'gc')
    .description('remove abandoned work directories of killed attempts (never a published version)')
    .option('--lake <uri>', 'lake root; default LAKEFORGE_LAKE')
    .option('--older-than <hours>', 'also remove work directories of other hosts untouched this long (default 6)')
    .option('--dry-run', 'only list what would be removed')
    .option('--json', 'machine-readable output')
    .action(act(async (o: { lake?: string; olderThan?: string; dryRun?: boolean; json?: boolean }) => (await import('./commands/lake.js')).lakeGcCommand(o)));

  sub(program, 'cancel')
    .description('cancel a run cleanly through its `cancel` update (training checkpoints first)')
    .argument('<workflow-id>')
    .option('-r, --reason <text>', 'recorded in the run\'s step table')
    .option('--timeout <seconds>', 'how long to wait for a worker to accept the cancel', '30')
    .action(act(async (id: string, o: { reason?: string; timeout?: string }) => (await import('./commands/runs.js')).cancelCommand(id, o)));

  const schedule = sub(program, 'schedule').description('cron and interval pipelines (Temporal Schedules)');
  sub(schedule, 'create')
    .description('schedule a pipeline spec')
    .argument('<pipeline.yaml>')
    .option('--cron <expr>', 'cron expression, UTC unless --timezone (repeatable)', collect, [])
    .option('--every <duration>', 'interval such as 30m, 1h or 1d')
    .option('--offset <duration>', 'phase of the interval, e.g. 5m past each hour')
    .option('--timezone <tz>', 'IANA time zone of the cron expressions')
    .addOption(new Option('--overlap <policy>', 'when the previous run is still going').choices(['SKIP', 'BUFFER_ONE', 'BUFFER_ALL', 'ALLOW_ALL', 'CANCEL_OTHER', 'TERMINATE_OTHER']).default('SKIP'))
    .option('--id <schedule-id>', 'schedule id (default lakeforge-<pipeline>)')
    .option('--lake <uri>', 'lake root for the scheduled runs')
    .option('--paused', 'create it paused')
    .option('--note <text>', 'a note shown with the schedule')
    .option('--priority <1-5>', 'task priority of the scheduled runs (backfilled runs get 5, the lowest)')
    .action(act(async (file: string, o: Parameters<typeof import('./commands/schedule.js').scheduleCreateCommand>[1]) => (await import('./commands/schedule.js')).scheduleCreateCommand(file, o)));
  sub(schedule, 'list')
    .description('lakeforge schedules')
    .option('-p, --pipeline <name>', 'only this pipeline')
    .option('--json', 'machine-readable output')
    .action(act(async (o: { pipeline?: string; json?: boolean }) => (await import('./commands/schedule.js')).scheduleListCommand(o)));
  sub(schedule, 'describe')
    .description('timing, state, next and recent runs of a schedule')
    .argument('<schedule-id>')
    .option('--json', 'machine-readable output')
    .action(act(async (id: string, o: { json?: boolean }) => (await import('./commands/schedule.js')).scheduleDescribeCommand(id, o)));
  for (const action of ['pause', 'unpause'] as const) {
    sub(schedule, action)
      .description(`${action} a schedule`)
      .argument('<schedule-id>')
      .option('--note <text>', 'why')
      .action(act(async (id: string, o: { note?: string }) => (await import('./commands/schedule.js')).scheduleSimpleCommand(action, id, o)));
  }
  sub(schedule, 'trigger')
    .description('start a run now')
    .argument('<schedule-id>')
    .addOption(new Option('--overlap <policy>', 'overlap policy for this run').choices(['SKIP', 'BUFFER_ONE', 'BUFFER_ALL', 'ALLOW_ALL', 'CANCEL_OTHER', 'TERMINATE_OTHER']))
    .option('--json', 'machine-readable output')
    .action(act(async (id: string, o: { overlap?: string; json?: boolean }) => (await import('./commands/schedule.js')).scheduleTriggerCommand(id, o)));
  sub(schedule, 'backfill')
    .description('run the schedule\'s actions for a past time range')
    .argument('<schedule-id>')
    .requiredOption('--from <time>', 'start, e.g. 2026-11-01T00:00:00Z')
    .requiredOption('--to <time>', 'end')
    .addOption(new Option('--overlap <policy>', 'overlap policy for the backfilled runs').choices(['SKIP', 'BUFFER_ONE', 'BUFFER_ALL', 'ALLOW_ALL', 'CANCEL_OTHER', 'TERMINATE_OTHER']).default('BUFFER_ALL'))
    .action(act(async (id: string, o: { from: string; to: string; overlap?: string }) => (await import('./commands/schedule.js')).scheduleBackfillCommand(id, o)));
  sub(schedule, 'delete')
    .description('delete a schedule (its runs are kept)')
    .argument('<schedule-id>')
    .action(act(async (id: string) => (await import('./commands/schedule.js')).scheduleSimpleCommand('delete', id, {})));

  const server = sub(program, 'server').description('the local Temporal dev server (state in .lakeforge/temporal)');
  for (const action of ['start', 'stop', 'status'] as const) {
    const c = sub(server, action).description(`${action} the dev server${action === 'status' ? ' (exit 1 if none answers)' : ''}`);
    if (action === 'status') c.option('--json', 'machine-readable output');
    c.action(act(async (o: { json?: boolean }) => (await import('./commands/server.js')).serverCommand(action, o)));
  }

  const cluster = sub(program, 'cluster').description('a local full Temporal server on PostgreSQL with mTLS (state in .lakeforge/cluster)');
  for (const action of ['start', 'stop', 'status', 'env'] as const) {
    const what = { start: 'build if needed and start the cluster; prints its client environment', stop: 'stop the server, then PostgreSQL', status: 'show the cluster (exit 1 if not running)', env: 'print `export TEMPORAL_...` lines for the CLI and workers' }[action];
    const c = sub(cluster, action).description(what);
    if (action === 'status') c.option('--json', 'machine-readable output');
    c.action(act(async (o: { json?: boolean }) => (await import('./commands/cluster.js')).clusterCommand(action, o)));
  }

  sub(program, 'worker')
    .description('run the ETL and GPU workers in this process (Ctrl-C drains and stops them)')
    .option('--queues <list>', 'which workers: etl, gpu or etl,gpu', 'etl,gpu')
    .action(act(async (o: { queues: string }) => (await import('./commands/worker.js')).workerCommand(o)));

  return program;
}

export async function main(argv: string[]): Promise<never> {
  // `lakeforge run --wait | head`: a closed pipe ends the command quietly (a watched run keeps running).
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  let code = 0;
  const program = buildProgram((c) => { code = c; });
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander already printed the message (or the help/version); usage mistakes are invalid input.
      code = err.exitCode === 0 ? 0 : EXIT_INVALID;
    } else {
      const { exitCode, lines } = describeError(err);
      process.stderr.write(`${lines.join('\n')}\n`);
      if (process.env.LAKEFORGE_DEBUG === '1' && err instanceof Error) process.stderr.write(`${err.stack}\n`);
      else if (exitCode !== EXIT_INVALID && !(err as { exitCode?: number }).exitCode) process.stderr.write('  (LAKEFORGE_DEBUG=1 shows the stack trace)\n');
      code = exitCode;
    }
  }
  // Exit explicitly: gRPC channels or native runtimes must not keep a finished command alive.
  process.exit(code);
}

if (process.argv[1] && import.meta.url === (await import('node:url')).pathToFileURL(process.argv[1]).href) {
  await main(process.argv);
}
