from agora_common.auth import CurrentUser
from agora_common.openapi import errors
from fastapi import APIRouter, Request, Response, status

from agora_users.api.deps import StoreDep
from agora_users.api.schemas import (
    AuthResponse,
    LoginRequest,
    RefreshRequest,
    RegisterRequest,
    RegistrationAccepted,
    VerifyResponse,
    user_read,
)
from agora_users.service import accounts, profiles

router = APIRouter(prefix="/auth", tags=["auth"])


async def auth_response(store, session: accounts.Session) -> AuthResponse:
    user = await profiles.profile(store=store, user_id=session.user["_id"])
    return AuthResponse(user=user_read(user), access_token=session.access_token,
                        refresh_token=session.refresh_token, expires_at=session.expires_at)


def client_address(request: Request) -> str:
    # the gateway sets X-Real-IP to the caller's address (only the gateway reaches the service: NetworkPolicy)
    client = request.headers.get("X-Real-IP") or (request.client.host if request.client else "unknown")
    return client[:64]


REGISTERED = ("Registration received. If the email can be used, the account is ready: sign in with this email and "
              "password. If it already had an account, that account is unchanged and its owner has been told.")


@router.post("/register", status_code=status.HTTP_202_ACCEPTED, response_model=RegistrationAccepted,
             summary="Register (then sign in); the answer never tells whether the email already had an account",
             responses=errors(403, 422))
async def register(body: RegisterRequest, store: StoreDep, request: Request) -> RegistrationAccepted:
    await accounts.register(store=store, email=str(body.email), password=body.password,
                            display_name=body.display_name, client=client_address(request),
                            human_token=body.human_check_token)
    return RegistrationAccepted(email=str(body.email), message=REGISTERED)


@router.post("/login", response_model=AuthResponse, summary="Sign in with email and password",
             responses=errors(401, 403, 422, 429))
async def login(body: LoginRequest, store: StoreDep, request: Request) -> AuthResponse:
    session = await accounts.login(store=store, email=body.email, password=body.password,
                                   client=client_address(request), human_token=body.human_check_token)
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
