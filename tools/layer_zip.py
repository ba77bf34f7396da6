"""Zip a Lambda layer directory reproducibly: python -m tools.layer_zip <directory> <zip>.

The same files give the same bytes on every machine (sorted entries, a fixed timestamp, no
bytecode caches), so the asset hash changes only when the layer's contents do. aws-cdk-lib
uses a .zip asset as it is: one file to hash and stage per synth instead of hundreds.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

# The earliest date a zip entry can carry; any fixed value would do.
FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def zip_layer(directory: Path, target: Path) -> int:
    """Write `directory`'s files to `target` (paths relative to it); returns the number of entries."""
    files = sorted(
        p for p in directory.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )
    if not files:
        raise SystemExit(f"{directory}: no files to zip")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in files:
            entry = zipfile.ZipInfo(path.relative_to(directory).as_posix(), FIXED_TIME)
            entry.external_attr = 0o644 << 16  # rw-r--r--: readable by the Lambda runtime's user
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, path.read_bytes(), compresslevel=9)
    partial.replace(target)  # never a half-written zip under the final name
    return len(files)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m tools.layer_zip <directory> <zip>", file=sys.stderr)
        return 2
    count = zip_layer(Path(argv[0]), Path(argv[1]))
    print(f"{argv[1]}: {count} files")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
