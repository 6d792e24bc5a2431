"""Prefect 3 side of the peer benchmark (bench/peers/main.ts runs it; its API server is started there, on SQLite).

  python prefect_peer.py chain --statements S.json --work DIR [--steps 10]   # clean, then N trivial steps
  python prefect_peer.py etl   --statements S.json --work DIR                # the 2M-row clean → features

Tasks cache on their inputs with persisted results (Prefect's skip-if-cached), so a second `chain` with the same
--work is the fully cached run. Prints one JSON line: the times Prefect's API recorded for the flow and its tasks.
"""
import argparse
import asyncio
import json
import os
import time

from prefect import flow, task
from prefect.cache_policies import INPUTS
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

import peer_sql

STATEMENTS = {}


@task(cache_policy=INPUTS, persist_result=True)
def clean(work: str) -> str:
    peer_sql.run_statements(STATEMENTS["chain_clean"])
    return STATEMENTS["chain_clean_out"]


@task(cache_policy=INPUTS, persist_result=True)
def step(i: int, src: str, work: str) -> str:
    return peer_sql.passthrough(src, os.path.join(work, f"step-{i}", "part-0.parquet"))


@flow(name="peer-chain")
def chain(work: str, steps: int) -> str:
    x = clean(work)
    for i in range(1, steps + 1):
        x = step(i, x, work)
    return x


@task
def etl_clean() -> int:
    peer_sql.run_statements(STATEMENTS["etl_clean"])
    return 0


@task
def etl_features(cleaned: int) -> int:
    peer_sql.run_statements(STATEMENTS["etl_features"])
    return 0


@flow(name="peer-etl")
def etl() -> int:
    return etl_features(etl_clean())


async def recorded(flow_run_id, expect_tasks):
    """The flow's and its tasks' times as the API recorded them (task runs arrive through events: wait for all)."""
    async with get_client() as c:
        deadline = time.time() + 60
        while True:
            fr = await c.read_flow_run(flow_run_id)
            trs = await c.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
            done = [t for t in trs if t.state and t.state.is_final()]
            if fr.end_time and len(done) >= expect_tasks:
                break
            if time.time() > deadline:
                raise SystemExit(f"prefect API recorded {len(done)}/{expect_tasks} finished task runs within 60 s")
            await asyncio.sleep(0.2)
    spans = []
    for t in trs:
        end = t.end_time or t.state.timestamp
        start = t.start_time or end  # a cached task never runs: it starts and ends at its Cached state
        spans.append((start.timestamp(), end.timestamp(), t.state.name))
    spans.sort()
    gaps = [max(0.0, (spans[i + 1][0] - spans[i][1]) * 1000) for i in range(len(spans) - 1)]
    return {
        "total_s": (fr.end_time - fr.start_time).total_seconds(),
        "gaps_ms": gaps,
        "tasks": len(spans),
        "cached": sum(1 for s in spans if s[2] == "Cached"),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["chain", "etl"])
    ap.add_argument("--statements", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--steps", type=int, default=10)
    a = ap.parse_args()
    STATEMENTS.update(peer_sql.load(a.statements))
    if a.mode == "chain":
        state = chain(a.work, a.steps, return_state=True)
        expect = a.steps + 1
    else:
        state = etl(return_state=True)
        expect = 2
    if not state.is_completed():
        raise SystemExit(f"prefect flow ended {state.name}: {state.message}")
    print(json.dumps(asyncio.run(recorded(state.state_details.flow_run_id, expect))))


if __name__ == "__main__":
    main()
