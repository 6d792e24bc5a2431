-- One trivial step of the peer benchmark's chain (bench/peers): the same statement in lakeforge, Prefect and Dagster.
SELECT * FROM input
