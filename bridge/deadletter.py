"""The dead-letter store: every input that could not be used, with the reason, so nothing is silently lost.
All of it arrives over the dead-letter topic (from producers and from the bridge's own validation) and is
written to the dead_letters table by the bridge."""
from __future__ import annotations

import json

from sqlalchemy.orm import Session

from models.tables import DeadLetter


def store_dead_letter(s: Session, message_value: str) -> DeadLetter:
    try:
        doc = json.loads(message_value)
        stage, reason, payload = str(doc["stage"]), str(doc["reason"]), doc["payload"]
        if not isinstance(payload, str):
            payload = json.dumps(payload, ensure_ascii=False)
    except (ValueError, KeyError, TypeError):
        stage, reason, payload = "unknown", "dead-letter message not in the expected form", message_value
    row = DeadLetter(stage=stage, reason=reason[:4000], payload=payload)
    s.add(row)
    return row
