"""JSON schemas of the appliance documents, exported for other implementations.

`python -m astara.wire.schema DIR` writes them; the files shipped in
`wire/schemas/` are checked by a unit test to equal the models, so a change of the
contract is always a visible change of those files.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from astara.wire.appliance_config import CONFIG_VERSION, ApplianceConfig
from astara.wire.appliance_status import ApplianceStatus

SCHEMA_DIR = Path(__file__).parent / "schemas"


def schemas() -> dict[str, dict]:
    return {
        f"appliance_config.v{CONFIG_VERSION}.json": ApplianceConfig.model_json_schema(),
        "appliance_status.json": ApplianceStatus.model_json_schema(),
    }


def render(schema: dict) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def export(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in schemas().items():
        path = directory / name
        path.write_text(render(schema))
        written.append(path)
    return written


if __name__ == "__main__":  # pragma: no cover
    for p in export(Path(sys.argv[1]) if len(sys.argv) > 1 else SCHEMA_DIR):
        print(p)
