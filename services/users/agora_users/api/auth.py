from agora_common.auth import CurrentUser
from agora_common.openapi import errors
from fastapi import APIRouter, Request, Response, status

from agora_users.api.deps import StoreDep
from agora_users.api.schemas import (
    AuthResponse,
    LoginRequest,
    RefreshRequest,
    RegisterRequest,
    VerifyResponse,
    user_read,
)
from agora_users.service import accounts, profiles

router = APIRouter(prefix="/auth", tags=["auth"])


async def auth_response(store, session: accounts.Session) -> AuthResponse:
    user = await profiles.profile(store=store, user_id=session.user["_id"])
    return AuthResponse(user=user_read(user), access_token=session.access_token,
                        refresh_token=session.refresh_token, expires_at=session.expires_at)


@router.post("/register", status_code=status.HTTP_201_CREATED, response_model=AuthResponse,
             summary="Create an account and sign in", responses=errors(409, 422))
async def register(body: RegisterRequest, store: StoreDep) -> AuthResponse:
    session = await accounts.register(store=store, email=str(body.email), password=body.password,
                                      display_name=body.display_name)
    return await auth_response(store, session)


@router.post("/login", response_model=AuthResponse, summary="Sign in with email and password",
             responses=errors(401, 403, 422, 429))
async def login(body: LoginRequest, store: StoreDep, request: Request) -> AuthResponse:
    # the gateway sets X-Real-IP to the caller's address (only the gateway reaches the service: NetworkPolicy)
    client = request.headers.get("X-Real-IP") or (request.client.host if request.client else "unknown")
    session = await accounts.login(store=store, email=body.email, password=body.password, client=client[:64])
    return await auth_response(store, session)


@router.post("/refresh", response_model=AuthResponse, responses=errors(401, 403, 422),
             summary="Exchange a refresh token for a new token pair (the old refresh token is spent)")
async def refresh(body: RefreshRequest, store: StoreDep) -> AuthResponse:
    return await auth_response(store, await accounts.refresh(store=store, refresh_token=body.refresh_token))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=errors(401, 422),
             summary="Revoke a refresh token and every token rotated from it")
async def logout(body: RefreshRequest, store: StoreDep) -> Response:
    await accounts.logout(store=store, refresh_token=body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/verify", response_model=VerifyResponse, responses=errors(401),
            summary="Check an access token (for the gateway's auth_request; no database call)")
async def verify(user: CurrentUser, response: Response) -> VerifyResponse:
    response.headers["X-User-Id"] = user.id
    response.headers["X-User-Roles"] = ",".join(user.roles)
    return VerifyResponse(user_id=user.id, roles=user.roles)
