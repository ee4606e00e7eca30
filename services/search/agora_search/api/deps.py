from typing import Annotated

from elasticsearch import AsyncElasticsearch
from fastapi import Depends, Request

from agora_search.config import Settings
from agora_search.service.demand import ZeroHitRecorder
from agora_search.service.reindex import ReindexJob


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_es(request: Request) -> AsyncElasticsearch:
    return request.app.state.es


def get_reindex_job(request: Request) -> ReindexJob:
    return request.app.state.reindex_job


def get_zero_hits(request: Request) -> ZeroHitRecorder:
    return request.app.state.zero_hits


SettingsDep = Annotated[Settings, Depends(get_settings)]
EsDep = Annotated[AsyncElasticsearch, Depends(get_es)]
ReindexJobDep = Annotated[ReindexJob, Depends(get_reindex_job)]
ZeroHitsDep = Annotated[ZeroHitRecorder, Depends(get_zero_hits)]
