/**
 * Top-level lake directories of DESIGN.md §2: a sql step's output (`<output>/<dataset>/<version>/`) may not take one
 * of these names.
 */
export const RESERVED_LAKE_DIRS = ['raw', 'clean', 'rejects', 'features', 'checkpoints', 'models'] as const;
