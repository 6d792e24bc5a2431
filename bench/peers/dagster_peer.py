"""Dagster side of the peer benchmark (bench/peers/main.ts runs it), with a DagsterInstance on disk (DAGSTER_HOME).

  python dagster_peer.py chain --statements S.json [--steps 10]   # clean, then N trivial ops
  python dagster_peer.py etl   --statements S.json                # the 2M-row clean → features

Run with execute_job and the in-process executor, Dagster's fastest (its default multiprocess executor starts a
process per op: about 1.4 s between steps here). Dagster has no
skip-if-cached for ops, so there is no cached mode. Prints one JSON line: the times the instance's event log recorded.
"""
import argparse
import json
import os

from dagster import DagsterEventType, DagsterInstance, execute_job, in_process_executor, job, op, reconstructable

import peer_sql

STEPS = int(os.environ.get("PEER_STEPS", "10"))


def _statements():
    return peer_sql.load(os.environ["PEER_STATEMENTS"])


@op
def clean() -> str:
    s = _statements()
    peer_sql.run_statements(s["chain_clean"])
    return s["chain_clean_out"]


def _step(i):
    @op(name=f"step_{i}")
    def _op(src: str) -> str:
        return peer_sql.passthrough(src, os.path.join(os.environ["PEER_WORK"], f"step-{i}", "part-0.parquet"))
    return _op


STEP_OPS = [_step(i) for i in range(1, STEPS + 1)]


@job(executor_def=in_process_executor)
def chain_job():
    x = clean()
    for s in STEP_OPS:
        x = s(x)


@op
def etl_clean() -> int:
    peer_sql.run_statements(_statements()["etl_clean"])
    return 0


@op
def etl_features(cleaned: int) -> int:
    peer_sql.run_statements(_statements()["etl_features"])
    return 0


@job(executor_def=in_process_executor)
def etl_job():
    etl_features(etl_clean())


def recorded(instance, run_id):
    starts, ends, run_start, run_end = {}, {}, None, None
    for e in instance.all_logs(run_id):
        t = e.dagster_event.event_type if e.dagster_event else None
        if t == DagsterEventType.STEP_START:
            starts[e.step_key] = e.timestamp
        elif t == DagsterEventType.STEP_SUCCESS:
            ends[e.step_key] = e.timestamp
        elif t == DagsterEventType.RUN_START:
            run_start = e.timestamp
        elif t == DagsterEventType.RUN_SUCCESS:
            run_end = e.timestamp
    spans = sorted((starts[k], ends[k]) for k in ends)
    gaps = [max(0.0, (spans[i + 1][0] - spans[i][1]) * 1000) for i in range(len(spans) - 1)]
    return {"total_s": run_end - run_start, "gaps_ms": gaps, "tasks": len(spans), "cached": 0}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["chain", "etl"])
    ap.add_argument("--statements", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--steps", type=int, default=10)
    a = ap.parse_args()
    os.environ.update(PEER_STATEMENTS=a.statements, PEER_WORK=a.work, PEER_STEPS=str(a.steps))
    with DagsterInstance.get() as instance:
        target = reconstructable(chain_job if a.mode == "chain" else etl_job)
        with execute_job(target, instance=instance) as result:
            if not result.success:
                raise SystemExit(f"dagster run {result.run_id} failed")
            print(json.dumps(recorded(instance, result.run_id)))


if __name__ == "__main__":
    main()
