from agora_common.auth import CurrentUser
from agora_common.openapi import errors
from fastapi import APIRouter, Response, status
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from agora_users.api.auth import auth_response
from agora_users.api.deps import ActiveMember, StoreDep
from agora_users.api.schemas import (
    AuthResponse,
    Following,
    PasswordChange,
    ProfileUpdate,
    UserRead,
    user_read,
)
from agora_users.service import accounts, export, follows, profiles

router = APIRouter(prefix="/me", tags=["me"])


@router.get("", response_model=UserRead, summary="My account, with my email", responses=errors(401, 404))
async def get_me(user: CurrentUser, store: StoreDep) -> UserRead:
    return user_read(await profiles.profile(store=store, user_id=user.id))


@router.patch("", response_model=UserRead, summary="Edit my profile", responses=errors(401, 403, 404, 422))
async def update_me(body: ProfileUpdate, user: ActiveMember, store: StoreDep) -> UserRead:
    changes = body.model_dump(exclude_unset=True)
    if changes.get("display_name", "") is None:
        changes.pop("display_name")  # a display name cannot be removed, only changed
    return user_read(await profiles.update_profile(store=store, user_id=user.id, changes=changes))


@router.delete("", status_code=status.HTTP_204_NO_CONTENT, responses=errors(401, 404),
               summary="Delete my account: personal data is erased, my content stays anonymised")
async def delete_me(user: CurrentUser, store: StoreDep) -> Response:
    await accounts.delete_account(store=store, user_id=user.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/password", response_model=AuthResponse, responses=errors(401, 403, 404, 422),
             summary="Change my password (needs the current one); signs out every other session")
async def change_password(body: PasswordChange, user: CurrentUser, store: StoreDep) -> AuthResponse:
    session = await accounts.change_password(store=store, user_id=user.id, current_password=body.current_password,
                                             new_password=body.new_password)
    return await auth_response(store, session)


@router.get("/export", responses=errors(401, 404),
            summary="Everything this service holds about me, as one JSON document (account, SIGs, follows, titles "
            "history, activity figures)")
async def export_my_data(user: CurrentUser, store: StoreDep) -> JSONResponse:
    data = await export.my_data(store=store, user_id=user.id)
    return JSONResponse(jsonable_encoder(data), headers={
        "Content-Disposition": 'attachment; filename="agora-users-my-data.json"', "Cache-Control": "no-store"})


@router.get("/following", response_model=Following, summary="Members and tags I follow", responses=errors(401))
async def my_following(user: CurrentUser, store: StoreDep) -> Following:
    return Following(**await follows.following(store=store, user_id=user.id))


@router.put("/following/users/{user_id}", status_code=status.HTTP_204_NO_CONTENT,
            responses=errors(401, 403, 404, 422), summary="Follow a member (idempotent)")
async def follow_user(user_id: str, user: ActiveMember, store: StoreDep) -> Response:
    await follows.follow(store=store, follower_id=user.id, kind="user", target=user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/following/users/{user_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses=errors(401, 404), summary="Unfollow a member")
async def unfollow_user(user_id: str, user: CurrentUser, store: StoreDep) -> Response:
    await follows.unfollow(store=store, follower_id=user.id, kind="user", target=user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/following/tags/{tag}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(401, 403, 404, 422),
            summary="Follow a tag (idempotent)")
async def follow_tag(tag: str, user: ActiveMember, store: StoreDep) -> Response:
    await follows.follow(store=store, follower_id=user.id, kind="tag", target=tag)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/following/tags/{tag}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(401, 404),
               summary="Unfollow a tag")
async def unfollow_tag(tag: str, user: CurrentUser, store: StoreDep) -> Response:
    await follows.unfollow(store=store, follower_id=user.id, kind="tag", target=tag)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
