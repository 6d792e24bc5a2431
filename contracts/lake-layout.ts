/**
 * Top-level lake directories (docs/design.md#layout): a sql step's output (`<output>/<dataset>/<version>/`) may not take one
 * of these names.
 */
export const RESERVED_LAKE_DIRS = ['raw', 'clean', 'rejects', 'features', 'checkpoints', 'models'] as const;
