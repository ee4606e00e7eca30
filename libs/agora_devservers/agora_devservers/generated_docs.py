"""The one way a generated doc (docs/events.md, docs/configuration.md) is written, or checked against the code."""

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


def main(doc: Path, render: Callable[[], str], *, description: str, argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help=f"exit 1 if {doc.name} is out of date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if doc.read_text() != text:
            print(f"{doc} is out of date: run make docs", file=sys.stderr)
            return 1
        return 0
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text)
    print(f"wrote {doc}")
    return 0
