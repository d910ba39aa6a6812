"""Write the Candidate v1 JSON Schema to models/candidate-v1.schema.json (`python -m models.export_schema`).
A test fails when the file and the pydantic model drift apart."""
import json
from pathlib import Path

from models.candidate import json_schema

SCHEMA_FILE = Path(__file__).with_name("candidate-v1.schema.json")


def render() -> str:
    return json.dumps(json_schema(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    SCHEMA_FILE.write_text(render(), encoding="utf-8")
    print(f"wrote {SCHEMA_FILE}")
