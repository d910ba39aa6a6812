"""Validation of what arrives on the bus. Anything that is not a valid Candidate v1 of a known category
is refused with a reason a person can act on; it never crashes the bridge."""
from __future__ import annotations

import json

from pydantic import ValidationError

from models.candidate import SCHEMA_VERSION, Candidate


class InvalidCandidate(Exception):
    pass


def parse_candidate(value: str, known_categories: set[str]) -> Candidate:
    try:
        raw = json.loads(value)
    except (ValueError, TypeError) as e:
        raise InvalidCandidate(f"not JSON: {e}") from None
    if not isinstance(raw, dict):
        raise InvalidCandidate(f"expected a JSON object, got {type(raw).__name__}")
    if raw.get("schema") != SCHEMA_VERSION:
        raise InvalidCandidate(f"schema is {raw.get('schema')!r}; this bridge reads {SCHEMA_VERSION!r}")
    try:
        cand = Candidate.model_validate(raw)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '(candidate)'}: {err['msg']}" for err in e.errors())
        raise InvalidCandidate(problems) from None
    if cand.category not in known_categories:
        raise InvalidCandidate(f"category: unknown category {cand.category!r} (configs/categories.yaml)")
    return cand
