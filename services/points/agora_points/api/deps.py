from typing import Annotated

from fastapi import Depends, Request

from agora_points.domain.engine import Engine
from agora_points.service.processor import PointsProcessor


def get_processor(request: Request) -> PointsProcessor:
    return request.app.state.processor


def get_engine(request: Request) -> Engine:
    return request.app.state.processor.engine


ProcessorDep = Annotated[PointsProcessor, Depends(get_processor)]
EngineDep = Annotated[Engine, Depends(get_engine)]
