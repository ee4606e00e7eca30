from typing import Annotated

from fastapi import Depends, Request

from agora_points.adapters.leaderboards import Leaderboards
from agora_points.domain.engine import Engine
from agora_points.service.processor import PointsProcessor


def get_processor(request: Request) -> PointsProcessor:
    return request.app.state.processor


def get_engine(request: Request) -> Engine:
    return request.app.state.processor.engine


def get_leaderboards(request: Request) -> Leaderboards:
    return request.app.state.leaderboards


ProcessorDep = Annotated[PointsProcessor, Depends(get_processor)]
EngineDep = Annotated[Engine, Depends(get_engine)]
LeaderboardsDep = Annotated[Leaderboards, Depends(get_leaderboards)]
