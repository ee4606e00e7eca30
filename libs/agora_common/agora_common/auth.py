"""Token issue and verification shared by every service.

Tokens are JWTs signed with the platform secret. The users service issues them; every other service only
verifies them (no call back to users). Use the dependency aliases in endpoints:

    async def ask(user: CurrentUser, ...): ...
    async def create_sig(user: Operator, ...): ...
"""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from agora_common.errors import Forbidden, Unauthorized
from agora_common.ids import new_id
from agora_common.settings import ServiceSettings

Role = Literal["member", "moderator", "operator"]
ROLES: tuple[Role, ...] = ("member", "moderator", "operator")


class Principal(BaseModel):
    id: str
    roles: list[str]
    name: str | None = None

    def has(self, role: str) -> bool:
        # operators can do what moderators can; moderators what members can
        rank = {"member": 0, "moderator": 1, "operator": 2}
        return any(rank.get(r, -1) >= rank[role] for r in self.roles)


def issue_token(
    settings: ServiceSettings,
    *,
    user_id: str,
    roles: list[str],
    kind: Literal["access", "refresh"],
    name: str | None = None,
    now: datetime | None = None,
) -> tuple[str, datetime]:
    now = now or datetime.now(UTC)
    ttl = settings.access_token_ttl_seconds if kind == "access" else settings.refresh_token_ttl_seconds
    expires = now + timedelta(seconds=ttl)
    claims = {
        "sub": user_id,
        "roles": roles,
        "typ": kind,
        "iss": settings.jwt_issuer,
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
        "jti": new_id(),
    }
    if name:
        claims["name"] = name
    token = jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm=settings.jwt_algorithm)
    return token, expires


def decode_token(settings: ServiceSettings, token: str, *, kind: Literal["access", "refresh"] = "access") -> dict:
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret.get_secret_value(),
            algorithms=[settings.jwt_algorithm],
            issuer=settings.jwt_issuer,
            options={"require": ["sub", "exp", "iat", "typ"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("token expired", code="token_expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"invalid token: {exc}", code="invalid_token") from exc
    if claims.get("typ") != kind:
        raise Unauthorized(f"expected a {kind} token", code="invalid_token")
    return claims


_bearer = HTTPBearer(auto_error=False, description="Access token from POST /api/v1/users/auth/login")


def _settings(request: Request) -> ServiceSettings:
    return request.app.state.settings


async def optional_user(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal | None:
    if credentials is None:
        return None
    claims = decode_token(_settings(request), credentials.credentials)
    return Principal(id=claims["sub"], roles=list(claims.get("roles", ["member"])), name=claims.get("name"))


async def current_user(principal: Annotated[Principal | None, Depends(optional_user)]) -> Principal:
    if principal is None:
        raise Unauthorized("authentication required: send 'Authorization: Bearer <access token>'")
    return principal


def require_role(role: Role):
    async def dependency(principal: Annotated[Principal, Depends(current_user)]) -> Principal:
        if not principal.has(role):
            raise Forbidden(f"requires the {role} role")
        return principal

    return dependency


OptionalUser = Annotated[Principal | None, Depends(optional_user)]
CurrentUser = Annotated[Principal, Depends(current_user)]
Moderator = Annotated[Principal, Depends(require_role("moderator"))]
Operator = Annotated[Principal, Depends(require_role("operator"))]
