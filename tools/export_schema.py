"""Write config/platform.schema.json from the config model (run: python -m tools.export_schema)."""

from __future__ import annotations

from config.loader import SCHEMA_FILE, export_schema


def main() -> None:
    SCHEMA_FILE.write_text(export_schema(), encoding="utf-8")
    print(f"wrote {SCHEMA_FILE}")


if __name__ == "__main__":
    main()
