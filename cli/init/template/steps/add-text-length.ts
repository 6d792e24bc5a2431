// A TypeScript step: `uses: add-text-length` in a pipeline. `run` gets its validated params, each input as a DuckDB
// view (named after its role, here `input`) on `duckdb`, and a work directory; what it writes there is published
// under the step's version. Its version covers the params, the inputs' versions and this file's source.
import { defineStep, z } from 'lakeforge';

export default defineStep({
  name: 'add-text-length',
  description: 'adds the number of words of a text column',
  params: z.strictObject({ column: z.string().default('text') }),
  // Every input row comes out: lakeforge checks the counts before publishing.
  conserveRows: true,
  async run({ params, duckdb, workDir, progress }) {
    progress({ stage: 'count words' });
    const col = `"${params.column.replace(/"/g, '""')}"`;
    await duckdb.run(`COPY (
      SELECT *, len(string_split_regex(trim(${col}), '\\s+')) AS words FROM input
    ) TO '${workDir}/part-0.parquet' (FORMAT parquet)`);
  },
});
