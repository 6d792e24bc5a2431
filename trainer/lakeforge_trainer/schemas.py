"""The JSON Schemas generated from contracts/trainer-protocol.ts (never edit them by hand)."""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

SCHEMA_DIR = Path(__file__).parent / "schema"


@lru_cache(maxsize=None)
def load_schema(name: str) -> dict:
    return json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text())


def apply_defaults(schema: dict, instance: Any, validator_cls: Any) -> Any:
    """Fill the `default`s declared in the schema, so defaults live in one place (the zod schema).

    Only called on an instance that already validates; for a union it follows the branch that matches.
    """
    if not isinstance(instance, dict):
        return instance
    for key in ("anyOf", "oneOf"):
        if key in schema:
            for branch in schema[key]:
                if validator_cls(branch).is_valid(instance):
                    return apply_defaults(branch, instance, validator_cls)
            return instance
    props = schema.get("properties")
    if not props:
        return instance
    for name, sub in props.items():
        if name not in instance and "default" in sub:
            instance[name] = copy.deepcopy(sub["default"])
        if name in instance:
            instance[name] = apply_defaults(sub, instance[name], validator_cls)
    return instance
