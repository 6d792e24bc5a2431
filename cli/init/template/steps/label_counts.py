"""A Python step: `uses: label-counts` in a pipeline. lakeforge runs it in the project's venv as
`<venv>/bin/python steps/label_counts.py --config <step.json>`; `step.run(main)` reads that config, reports events
on stdout and exits 0 (done), 2 (bad input: not retried) or 75 (stopped after a checkpoint: resumed later).
"""
import pyarrow as pa
import pyarrow.parquet as pq

from lakeforge_trainer import step


def main(ctx: step.Context) -> dict:
    column = ctx.params["labelColumn"]
    table = pa.concat_tables([pq.read_table(f) for f in ctx.inputs["input"].files])
    if column not in table.column_names:
        raise step.BadInput(f"the input has no column {column!r} (it has {', '.join(table.column_names)})")
    counts = table.group_by(column).aggregate([([], "count_all")]).rename_columns([column, "rows"])
    total = sum(counts.column("rows").to_pylist())
    shares = pa.array([n / total for n in counts.column("rows").to_pylist()], pa.float64())
    pq.write_table(counts.append_column("share", shares), ctx.work_dir / "part-0.parquet")
    step.events.progress(labels=counts.num_rows)
    return {"labels": counts.num_rows}


step.run(main)
