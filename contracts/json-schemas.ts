// The JSON Schemas the Python side validates against, generated from the zod schemas by infra/gen-trainer-schema.ts.
import { z } from 'zod';
import { PythonStepConfigSchema, PythonStepEventSchema } from './python-step-protocol.js';
import { RunConfigSchema, TrainerEventSchema } from './trainer-protocol.js';

/** JSON Schemas for the Python side. run.json is read with defaults optional (`io: 'input'`). */
export function trainerJsonSchemas(): { run: Record<string, unknown>; event: Record<string, unknown>; stepConfig: Record<string, unknown>; stepEvent: Record<string, unknown> } {
  const strict = {
    io: 'output' as const,
    override: (ctx: { jsonSchema: unknown }) => {
      // Strict for the emitter: every field the trainer writes must be declared here. Records keep theirs.
      const s = ctx.jsonSchema as Record<string, unknown>;
      if (s.type === 'object' && s.properties && s.additionalProperties === undefined) s.additionalProperties = false;
    },
  };
  const run = z.toJSONSchema(RunConfigSchema, { io: 'input' }) as Record<string, unknown>;
  const event = z.toJSONSchema(TrainerEventSchema, strict) as Record<string, unknown>;
  const stepConfig = z.toJSONSchema(PythonStepConfigSchema, { io: 'input' }) as Record<string, unknown>;
  const stepEvent = z.toJSONSchema(PythonStepEventSchema, strict) as Record<string, unknown>;
  return { run, event, stepConfig, stepEvent };
}
