// The pipeline workflow's signal, query and update definitions (docs/design.md#temporal-names). Their own module so
// that the CLI, the SDK and the workers' progress relay use the typed definitions without importing workflow code.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { PipelineProgress, TrainingProgress } from './progress.js';

export const progressQuery = defineQuery<PipelineProgress>('progress');
export const cancelUpdate = defineUpdate<{ cancelled: boolean; reason: string }, [string]>('cancel');
/** Sent by long-running activities (train) with their latest heartbeat details. */
export const stepProgressSignal = defineSignal<[{ step: string; progress: TrainingProgress }]>('stepProgress');
