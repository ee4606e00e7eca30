from typing import Annotated, Literal

from agora_common.auth import Moderator, Operator
from agora_common.idempotency import IdempotencyKey, replayed_header
from agora_common.openapi import errors
from agora_common.pagination import Page
from fastapi import APIRouter, Query, Response, status

from agora_users.api.deps import StoreDep
from agora_users.api.schemas import (
    DirectoryEntry,
    ModerationResult,
    PublicProfile,
    RolesUpdate,
    SuspensionCreate,
    TitleAuditEntry,
    TitleDetail,
    TitleGrant,
    TitleInUse,
    directory_entry,
    moderation_result,
    public_profile,
)
from agora_users.domain.segments import Segment
from agora_users.service import accounts, follows, moderation, profiles, titles

router = APIRouter(tags=["users"])


@router.get("", response_model=list[PublicProfile], responses=errors(422),
            summary="Public profiles of several members at once (?ids=a&ids=b), for display")
async def batch(store: StoreDep, ids: Annotated[list[str], Query(min_length=1, max_length=100)]) -> list[PublicProfile]:
    return [public_profile(u) for u in await profiles.public_profiles(store=store, ids=ids)]


@router.get("/titles", response_model=list[TitleInUse],
            summary="Honor titles: the built-in ones and every custom title in use, with holder counts")
async def title_catalogue(store: StoreDep) -> list[TitleInUse]:
    return [TitleInUse(**t) for t in await titles.catalogue(store=store)]


@router.get("/directory", response_model=Page[DirectoryEntry], responses=errors(401, 403, 422),
            summary="Accounts in registration order, for moderators and operators, filtered by status, role, "
                    "industry, city, skill, honor title, SIG or segment, a page at a time")
async def directory(moderator: Moderator, store: StoreDep,
                    status: Literal["active", "suspended"] | None = None,
                    role: Literal["member", "moderator", "operator"] | None = None,
                    industry: Annotated[str | None, Query(max_length=100)] = None,
                    city: Annotated[str | None, Query(max_length=100, description="any case")] = None,
                    skill: Annotated[str | None, Query(max_length=50, description="members listing this skill")] = None,
                    title: Annotated[str | None, Query(max_length=64, description="holders of this honor title")] = None,
                    sig_id: Annotated[str | None, Query(max_length=100, description="members of this SIG")] = None,
                    segment: Annotated[Segment | None, Query(description="members in this segment now")] = None,
                    limit: Annotated[int, Query(ge=1, le=500)] = 100,
                    cursor: Annotated[str | None, Query(max_length=500)] = None) -> Page[DirectoryEntry]:
    rows, next_cursor = await profiles.directory(store=store, status=status, role=role, industry=industry,
                                                 city=city, skill=skill, title=title, sig_id=sig_id, segment=segment,
                                                 limit=limit, cursor=cursor)
    return Page[DirectoryEntry](items=[directory_entry(u) for u in rows], next_cursor=next_cursor)


@router.get("/{user_id}", response_model=PublicProfile, responses=errors(404),
            summary="A member's public profile, with honor titles and SIGs (never the email)")
async def get_profile(user_id: str, store: StoreDep) -> PublicProfile:
    return public_profile(await profiles.profile(store=store, user_id=user_id))


@router.get("/{user_id}/followers", response_model=list[str], responses=errors(404),
            summary="Ids of a member's followers")
async def get_followers(user_id: str, store: StoreDep,
                        limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[str]:
    await profiles.get_user(store=store, user_id=user_id)
    return await follows.followers(store=store, user_id=user_id, limit=limit)


@router.put("/{user_id}/roles", response_model=PublicProfile, responses=errors(401, 403, 404, 422),
            summary="Set a member's roles (operators)")
async def set_roles(user_id: str, body: RolesUpdate, operator: Operator, store: StoreDep) -> PublicProfile:
    await accounts.set_roles(store=store, user_id=user_id, roles=list(body.roles), operator_id=operator.id)
    return public_profile(await profiles.profile(store=store, user_id=user_id))


@router.post("/{user_id}/titles", status_code=status.HTTP_201_CREATED, response_model=TitleDetail,
             responses=errors(401, 403, 404, 409, 422), summary="Grant an honor title (operators)")
async def grant_title(user_id: str, body: TitleGrant, operator: Operator, store: StoreDep, response: Response,
                      idempotency_key: IdempotencyKey = None) -> TitleDetail:
    entry, replayed = await titles.grant(store=store, user_id=user_id, title=body.title, operator_id=operator.id,
                                         reason=body.reason, idempotency_key=idempotency_key, scope=body.scope)
    replayed_header(response, replayed)
    return TitleDetail.model_validate(entry)


@router.delete("/{user_id}/titles/{title}", status_code=status.HTTP_204_NO_CONTENT,
               responses=errors(401, 403, 404, 422), summary="Revoke an honor title (operators)")
async def revoke_title(user_id: str, title: str, operator: Operator, store: StoreDep,
                       reason: Annotated[str | None, Query(max_length=500)] = None,
                       scope: Annotated[str | None, Query(max_length=40, description="the title's scope, e.g. "
                                                          "tag:kubernetes (omit for the unscoped title)")] = None,
                       ) -> Response:
    await titles.revoke(store=store, user_id=user_id, title=title, operator_id=operator.id, reason=reason,
                        scope=scope)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{user_id}/titles/audit", response_model=list[TitleAuditEntry], responses=errors(401, 403),
            summary="Every grant and revocation of a member's titles, newest first (operators)")
async def title_audit(user_id: str, operator: Operator, store: StoreDep) -> list[TitleAuditEntry]:
    return [TitleAuditEntry.model_validate(e) for e in await titles.audit_trail(store=store, user_id=user_id)]


@router.post("/{user_id}/suspension", response_model=ModerationResult, responses=errors(401, 403, 404, 422),
             summary="Suspend a member (moderators; operators also suspend moderators)")
async def suspend(user_id: str, body: SuspensionCreate, moderator: Moderator, store: StoreDep) -> ModerationResult:
    user = await moderation.suspend(store=store, user_id=user_id, moderator_id=moderator.id,
                                    moderator_roles=moderator.roles, reason=body.reason, until=body.until)
    return moderation_result(user)


@router.delete("/{user_id}/suspension", response_model=ModerationResult, responses=errors(401, 403, 404, 409),
               summary="Reinstate a suspended member (moderators)")
async def reinstate(user_id: str, moderator: Moderator, store: StoreDep) -> ModerationResult:
    user = await moderation.reinstate(store=store, user_id=user_id, moderator_id=moderator.id,
                                      moderator_roles=moderator.roles)
    return moderation_result(user)
