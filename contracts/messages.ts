// The pipeline workflow's signal, query and update definitions (docs/design.md#temporal-names). Their own module so
// that the CLI, the SDK and the workers' progress relay use the typed definitions without importing workflow code.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { PipelineProgress, TrainingProgress } from './progress.js';

export const progressQuery = defineQuery<PipelineProgress>('progress');
export const cancelUpdate = defineUpdate<{ cancelled: boolean; reason: string }, [string]>('cancel');
/**
 * Sent by the train activity of earlier versions with its progress. Nothing sends it now (live progress is read
 * from heartbeat details: every signal cost history, docs/long-runs.md); the handler stays so those runs' histories
 * still replay and the query still shows what they sent.
 */
export const stepProgressSignal = defineSignal<[{ step: string; progress: TrainingProgress }]>('stepProgress');
