"""Writes a real intent-classification data set as raw Parquet: English voice-assistant commands from the
Home Assistant intents project, shipped inside the `home-assistant-intents` package (Apache-2.0) and expanded
from its sentence templates with `hassil` (Apache-2.0). Nothing is downloaded: both are trainer dependencies
(`trainer[examples]`, installed by the bootstrap).

    <venv>/bin/python examples/intents/export_raw.py --out <lake dir>/raw/intents/part-00000.parquet

Each intent's templates expand to up to --scan sentences (in template order); --per-intent of them are drawn at random
(seeded), so every template of an intent has a chance. The `{name}`/`{area}`/`{floor}` slots name a user's own devices
and rooms; they are filled from the small fixed lists below, as the intents project's own tests do with fixtures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
from importlib import resources
from pathlib import Path

NAMES = ["kitchen light", "ceiling fan", "front door", "garage door", "living room lamp", "tv", "heater",
         "coffee maker", "porch light", "bedroom blinds", "thermostat", "speaker"]
AREAS = ["kitchen", "living room", "bedroom", "office", "garage", "bathroom", "hallway", "garden"]
FLOORS = ["first floor", "upstairs", "downstairs", "basement"]


def load_intents(language: str):
    from hassil.intents import Intents

    data = json.loads(resources.files("home_assistant_intents").joinpath("data", f"{language}.json").read_text())
    return Intents.from_dict(data)


def sample(language: str, per_intent: int, scan: int, seed: int, min_sentences: int) -> list[dict]:
    from hassil.intents import TextSlotList
    from hassil.sample import sample_intents

    intents = load_intents(language)
    ranges = {name: (lst.start, lst.stop, lst.step) for name, lst in intents.slot_lists.items()
              if hasattr(lst, "start") and hasattr(lst, "stop")}
    lists = {"name": TextSlotList.from_strings(NAMES), "area": TextSlotList.from_strings(AREAS),
             "floor": TextSlotList.from_strings(FLOORS)}
    rows = []
    for intent in sorted(intents.intents):
        seen: dict[str, None] = {}
        for _, text in sample_intents(intents, slot_lists=lists, intent_names={intent}, language=language,
                                      max_sentences_per_intent=scan, expand_ranges=False):
            seen.setdefault(" ".join(text.split()), None)
        texts = list(seen)
        if len(texts) < min_sentences:
            continue  # too few distinct commands to split into train/val/test
        rng = random.Random(f"{seed}:{intent}")
        for t in sorted(rng.sample(texts, min(per_intent, len(texts)))):
            t = fill_ranges(t, ranges, rng)
            rid = hashlib.sha1(f"{intent}\0{t}".encode()).hexdigest()[:16]
            rows.append({"id": rid, "text": t, "label": intent})
    # A command that two intents both claim (e.g. "open the curtain") has no single right answer: drop it.
    owners: dict[str, set] = {}
    for r in rows:
        owners.setdefault(r["text"], set()).add(r["label"])
    return [r for r in rows if len(owners[r["text"]]) == 1]


def fill_ranges(text: str, ranges: dict, rng: random.Random) -> str:
    """Number slots (`{brightness}`, `{timer_minutes}`, ...) left unexpanded get one value from their range."""
    for name, (lo, hi, step) in ranges.items():
        while "{" + name + "}" in text:
            value = rng.randrange(lo, hi + 1, max(1, step))
            text = text.replace("{" + name + "}", str(value), 1)
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="the Parquet file to write")
    ap.add_argument("--language", default="en")
    ap.add_argument("--per-intent", type=int, default=120)
    ap.add_argument("--scan", type=int, default=20000)
    ap.add_argument("--min-sentences", type=int, default=40)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = sample(a.language, a.per_intent, a.scan, a.seed, a.min_sentences)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=pa.schema([("id", pa.string()), ("text", pa.string()),
                                                                ("label", pa.string())])), out)
    labels = sorted({r["label"] for r in rows})
    print(json.dumps({"rows": len(rows), "labels": labels, "out": str(out)}))


if __name__ == "__main__":
    main()
