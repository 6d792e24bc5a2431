import { badInput } from '../../contracts/failures.js';
import type { CleanOutcome } from './activity.js';

/**
 * An input whose every row is rejected is not a result: publishing it would hand features and train an empty
 * dataset (and fail far away, with a worker-local path). Fails the clean step with BadInput naming the reasons,
 * unless the pipeline opted in with `allowEmpty: true`.
 */
export function requireSomeClean(dataset: string, outcome: CleanOutcome, allowEmpty: boolean | undefined): void {
  if (outcome.rowsClean > 0 || allowEmpty) return;
  const reasons = Object.entries(outcome.reasons)
    .sort(([, a], [, b]) => b - a)
    .map(([r, n]) => `${n} ${r}`)
    .join(', ');
  throw badInput(
    `dataset ${dataset}: all ${outcome.rowsIn} rows rejected: ${reasons || 'no reasons recorded'} (set allowEmpty: true in the clean params to publish an empty output)`,
    { dataset, rowsIn: outcome.rowsIn, reasons: outcome.reasons },
  );
}
