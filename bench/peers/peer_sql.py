"""The peer benchmark's step bodies, shared by the Prefect and the Dagster runners so both do exactly lakeforge's work.

Statements come from bench/peers/statements.json, written by the TypeScript driver from lakeforge's own SQL builders
(buildCleanSql / buildFeaturesSql): the same text and parameters, run here on the same DuckDB version.
"""
import json
import os
import re

import duckdb


def _bind(sql, params):
    return {k: v for k, v in params.items() if re.search(r"\$" + re.escape(k) + r"\b", sql)}


def run_statements(statements, threads=None):
    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    for s in statements:
        p = _bind(s["sql"], s.get("params", {}))
        con.execute(s["sql"], p) if p else con.execute(s["sql"])
    con.close()


def load(path):
    with open(path) as f:
        return json.load(f)


def passthrough(src, dst):
    """SELECT * FROM input, as lakeforge's sql/bench/passthrough.sql step; writes one Parquet file."""
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    con = duckdb.connect()
    lit = lambda p: "'" + p.replace("'", "''") + "'"  # noqa: E731 (views and COPY take no prepared parameters)
    con.execute(f"CREATE VIEW input AS SELECT * FROM read_parquet({lit(src)})")
    con.execute(f"COPY (SELECT * FROM input) TO {lit(dst)} (FORMAT parquet)")
    con.close()
    return dst
