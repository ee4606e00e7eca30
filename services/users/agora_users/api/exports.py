"""CSV downloads for operators (segments, announcement replies): one way to write them."""

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import Response


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        value = ";".join(value)
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    # spreadsheet formula injection: a display name like "=HYPERLINK(...)" must stay text
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_text(columns: Sequence[str], rows: Iterable[Any]) -> str:
    """A header row, then each row's attributes (or keys, for dicts) in `columns`' order."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        get = row.get if isinstance(row, dict) else lambda col, row=row: getattr(row, col)
        writer.writerow([cell(get(col)) for col in columns])
    return out.getvalue()


def csv_download(text: str, filename: str) -> Response:
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
