from typing import Literal

from agora_common.auth import Operator
from agora_common.errors import NotFound
from agora_common.ids import utcnow
from agora_common.openapi import errors
from fastapi import APIRouter, Response

from agora_users.api.deps import StoreDep
from agora_users.api.exports import csv_download, csv_text
from agora_users.api.schemas import SegmentExport, SegmentMember
from agora_users.domain.segments import SEGMENTS, definitions
from agora_users.service import activity

router = APIRouter(prefix="/segments", tags=["segments"])

CSV_COLUMNS = list(SegmentMember.model_fields)


@router.get("", summary="Segment definitions (operators)", responses=errors(401, 403))
async def list_segments(operator: Operator, store: StoreDep) -> dict[str, str]:
    return _definitions(store)


@router.get("/{segment}", response_model=SegmentExport, responses={
    200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with ?format=csv"}, **errors(401, 403, 404)},
    summary="Members of a segment: ordinary, active, core or contributor (operators); ?format=csv to export")
async def export_segment(segment: str, operator: Operator, store: StoreDep,
                         format: Literal["json", "csv"] = "json") -> SegmentExport | Response:
    if segment not in SEGMENTS:
        raise NotFound(f"unknown segment {segment!r}; known: {', '.join(SEGMENTS)}", code="unknown_segment")
    rows = [SegmentMember(**r) for r in await activity.segment_members(store=store, segment=segment)]
    now = utcnow()
    if format == "csv":
        return csv_download(csv_text(CSV_COLUMNS, rows), f"segment-{segment}-{now:%Y%m%d}.csv")
    return SegmentExport(segment=segment, definition=_definitions(store)[segment], count=len(rows),
                         generated_at=now, members=rows)


def _definitions(store) -> dict[str, str]:
    s = store.settings
    return definitions(active_days=s.active_window_days, core_days=s.core_window_days,
                       core_min=s.core_min_contributions)
