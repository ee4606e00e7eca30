from typing import Annotated

from agora_common.auth import CurrentUser, Operator
from agora_common.idempotency import IdempotencyKey, replayed_header
from agora_common.openapi import errors
from fastapi import APIRouter, Query, Response, status

from agora_users.api.deps import ActiveMember, StoreDep
from agora_users.api.schemas import Membership, SigCreate, SigMember, SigRead, sig_read
from agora_users.service import sigs

router = APIRouter(prefix="/sigs", tags=["sigs"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SigRead, responses=errors(401, 403, 409, 422),
             summary="Create a SIG (operators)")
async def create_sig(body: SigCreate, operator: Operator, store: StoreDep, response: Response,
                     idempotency_key: IdempotencyKey = None) -> SigRead:
    sig, replayed = await sigs.create(store=store, name=body.name, slug=body.slug, description=body.description,
                                      tags=body.tags, operator_id=operator.id, idempotency_key=idempotency_key)
    replayed_header(response, replayed)
    return sig_read(sig)


@router.get("", response_model=list[SigRead], summary="Every SIG, by name")
async def list_sigs(store: StoreDep) -> list[SigRead]:
    return [sig_read(s) for s in await sigs.list_all(store=store)]


@router.get("/{sig_id}", response_model=SigRead, responses=errors(404), summary="One SIG")
async def get_sig(sig_id: str, store: StoreDep) -> SigRead:
    return sig_read(await sigs.get(store=store, sig_id=sig_id))


@router.get("/{sig_id}/members", response_model=list[SigMember], responses=errors(404),
            summary="Members of a SIG (cursor: the last user_id seen)")
async def list_members(sig_id: str, store: StoreDep, limit: Annotated[int, Query(ge=1, le=500)] = 100,
                       after: str | None = None) -> list[SigMember]:
    return [SigMember(**m) for m in await sigs.members(store=store, sig_id=sig_id, limit=limit, after=after)]


@router.post("/{sig_id}/members", status_code=status.HTTP_201_CREATED, response_model=Membership,
             responses={200: {"description": "Already a member", "model": Membership}, **errors(401, 403, 404)},
             summary="Join a SIG (201; 200 if already a member)")
async def join(sig_id: str, user: ActiveMember, store: StoreDep, response: Response) -> Membership:
    joined = await sigs.join(store=store, sig_id=sig_id, user_id=user.id)
    if not joined:
        response.status_code = status.HTTP_200_OK
    return Membership(sig_id=sig_id, user_id=user.id, joined=joined)


@router.delete("/{sig_id}/members", status_code=status.HTTP_204_NO_CONTENT, responses=errors(401, 404),
               summary="Leave a SIG")
async def leave(sig_id: str, user: CurrentUser, store: StoreDep) -> Response:
    await sigs.leave(store=store, sig_id=sig_id, user_id=user.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/{sig_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses=errors(401, 403, 404), summary="Remove a member from a SIG (operators and the SIG's leads)")
async def remove_member(sig_id: str, user_id: str, user: CurrentUser, store: StoreDep) -> Response:
    await sigs.leave(store=store, sig_id=sig_id, user_id=user_id, actor_id=user.id, actor_roles=user.roles)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/{sig_id}/leads/{user_id}", response_model=SigRead, responses=errors(401, 403, 404, 409),
            summary="Make a member a SIG lead (operators; joins them if needed)")
async def assign_lead(sig_id: str, user_id: str, operator: Operator, store: StoreDep) -> SigRead:
    return sig_read(await sigs.assign_lead(store=store, sig_id=sig_id, user_id=user_id, operator_id=operator.id))


@router.delete("/{sig_id}/leads/{user_id}", response_model=SigRead, responses=errors(401, 403, 404),
               summary="Remove a SIG lead (operators; they stay a member)")
async def remove_lead(sig_id: str, user_id: str, operator: Operator, store: StoreDep) -> SigRead:
    return sig_read(await sigs.remove_lead(store=store, sig_id=sig_id, user_id=user_id, operator_id=operator.id))
