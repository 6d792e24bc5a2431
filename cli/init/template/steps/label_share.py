"""A Python step: `uses: label-share` in a pipeline. lakeforge runs it in the project's venv as
`<venv>/bin/python steps/label_share.py --config <step.json>`; `step.run(main)` reads that config, reports events
on stdout and exits 0 (done), 2 (bad input: not retried) or 75 (stopped after a checkpoint: resumed later).
It keeps every row and adds `label_share`: the fraction of the input's rows that carry the row's label.
"""
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq

from lakeforge_trainer import step


def main(ctx: step.Context) -> dict:
    column = ctx.params["labelColumn"]
    table = pa.concat_tables([pq.read_table(f) for f in ctx.inputs["input"].files])
    if column not in table.column_names:
        raise step.BadInput(f"the input has no column {column!r} (it has {', '.join(table.column_names)})", column=column)
    labels = table.column(column).to_pylist()
    counts = Counter(labels)
    shares = pa.array([counts[v] / len(labels) for v in labels], pa.float64())
    pq.write_table(table.append_column("label_share", shares), ctx.work_dir / "part-0.parquet")
    step.events.progress(step=1, total_steps=1, labels=len(counts))
    return {"labels": len(counts), "rows": len(labels)}


step.run(main)
