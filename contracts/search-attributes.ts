import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** docs/design.md#temporal-names; registered on the dev server at start (infra/temporal/server.mjs). */
export const LakeforgePipeline = defineSearchAttributeKey('LakeforgePipeline', SearchAttributeType.KEYWORD);
export const LakeforgeDataset = defineSearchAttributeKey('LakeforgeDataset', SearchAttributeType.KEYWORD);
export const LakeforgeStep = defineSearchAttributeKey('LakeforgeStep', SearchAttributeType.KEYWORD);
export const LakeforgeModel = defineSearchAttributeKey('LakeforgeModel', SearchAttributeType.KEYWORD);
export const LakeforgeStatus = defineSearchAttributeKey('LakeforgeStatus', SearchAttributeType.KEYWORD);

export type RunStatus = 'running' | 'succeeded' | 'failed' | 'cancelled';
