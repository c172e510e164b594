"""Sign-up, sign-in and sessions (consumer-api §4.4)."""

from __future__ import annotations

from typing import Annotated, Any

from flask import Response, current_app, jsonify, request
from pydantic import Field, field_validator

from app.errors import RuleViolation, ValidationFailed
from app.models import User
from app.models.base import parse_object_id
from app.services import audit, magic_link, oauth, tokens, users
from app.services.passwords import validate_password
from app.services.profile import public_user
from public_api.limits import AUTH_LIMIT, FAILED_LOGINS
from public_api.parsing import ApiModel, Text, json_body_or_empty
from public_api.routing import api_route
from public_api.schemas import MagicLinkSent, OkMessage, TokenResponse, UserOut
from public_api.security import bearer_token

LEGACY_SESSION_COOKIE = "session_token"


def preferred_language() -> str:
    """``ru`` when the browser prefers Russian, otherwise ``en`` (business rules §8)."""
    return request.accept_languages.best_match(["en", "ru"], default="en") or "en"


def token_response(user: User, message: str) -> dict[str, Any]:
    """The token response of §2.7 for a new session of ``user``."""
    pair = tokens.open_session(user)
    return {
        "ok": True,
        "message": message,
        "user": public_user(user),
        "access_token": pair.access_token,
        "refresh_token": pair.refresh_token,
        "token_type": "bearer",
        "expires_in": pair.expires_in,
    }


def _email(value: str) -> str:
    try:
        return users.clean_email(value)
    except ValidationFailed as exc:
        raise ValueError(exc.detail) from None


EmailAddress = Annotated[Text, Field(max_length=254)]


# --------------------------------------------------------------------------------------------------------
# Register and log in


class RegisterRequest(ApiModel):
    email: EmailAddress
    password: Text
    name: Text

    error_messages = {"email": "email must be a valid e-mail address"}

    @field_validator("email")
    @classmethod
    def _valid_email(cls, value: str) -> str:
        return _email(value)

    @field_validator("password")
    @classmethod
    def _strong_password(cls, value: str) -> str:
        try:
            validate_password(value)
        except ValidationFailed as exc:
            raise ValueError(exc.detail) from None
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("name is required")
        if len(value) > 100:
            raise ValueError("name must be at most 100 characters")
        return value


@api_route(
    "/auth/register",
    methods=["POST"],
    summary="Register",
    tags=["Auth"],
    params=RegisterRequest,
    response=TokenResponse,
    errors={
        400: "User with this email already exists",
        422: [
            "email must be a valid e-mail address",
            "Password must be at least 8 characters",
            "name is required",
        ],
        429: "Too many requests. Please try again later.",
    },
    limits=[AUTH_LIMIT],
)
def register(params: RegisterRequest) -> Response:
    """Create a customer account and sign it in; no e-mail verification step (the site wants the tokens)."""
    user = tokens.register(params.email, params.password, params.name, language=preferred_language())
    audit.set_request_actor(user)
    return jsonify(token_response(user, "User registered successfully"))


class LoginRequest(ApiModel):
    email: Annotated[Text, Field(max_length=254)]
    password: Annotated[Text, Field(max_length=1024)]


@api_route(
    "/auth/login",
    methods=["POST"],
    summary="Log in",
    tags=["Auth"],
    params=LoginRequest,
    response=TokenResponse,
    errors={
        401: "Invalid email or password",
        403: "Account is deactivated",
        422: "email is required",
        429: "Too many requests. Please try again later.",
    },
    limits=[AUTH_LIMIT, FAILED_LOGINS],
)
def login(params: LoginRequest) -> Response:
    """Password sign-in. Accounts without a password (Google or magic link) get the same 401 as a wrong
    password, so the form does not reveal which accounts exist. Five failures lock the account for 15
    minutes (429)."""
    user = tokens.login_with_password(params.email, params.password)
    return jsonify(token_response(user, "Logged in successfully"))


@api_route(
    "/auth/me",
    summary="The signed-in user",
    tags=["Auth"],
    auth="bearer",
    response=UserOut,
    errors={401: ["Authentication required", "Invalid or expired token", "Account is deactivated"]},
)
def me(user: User) -> Response:
    """The bare user object."""
    return jsonify(public_user(user))


# --------------------------------------------------------------------------------------------------------
# Log out and refresh


@api_route(
    "/auth/logout",
    methods=["POST"],
    summary="Log out",
    tags=["Auth"],
    auth="optional",
    response=OkMessage,
)
def logout() -> Response:
    """Revoke the session of the bearer token (its access and refresh tokens) and of an optional
    ``refresh_token`` in the body. Always 200, even without a valid token."""
    body = json_body_or_empty()
    user_id: str | None = None
    for token, expected_type in ((bearer_token(), "access"), (body.get("refresh_token"), "refresh")):
        if not isinstance(token, str):
            continue
        claims = tokens.decode(token, allow_expired=True)
        if claims and claims.get("type") == expected_type and tokens.revoke_session(claims.get("sid")):
            user_id = user_id or str(claims.get("sub"))
    if user_id:
        oid = parse_object_id(user_id)
        user = User.objects(pk=oid).first() if oid else None
        audit.record("logout", "auth", user_id, actor=audit.actor_for(user) if user else None)
    response = jsonify({"ok": True, "message": "Logged out successfully"})
    if LEGACY_SESSION_COOKIE in request.cookies:
        response.delete_cookie(LEGACY_SESSION_COOKIE, path="/")
    return response


class RefreshRequest(ApiModel):
    refresh_token: Annotated[Text, Field(max_length=4096)] | None = None


@api_route(
    "/auth/refresh",
    methods=["POST"],
    summary="Rotate tokens",
    tags=["Auth"],
    auth="refresh",
    params=RefreshRequest,
    response=TokenResponse,
    errors={401: tokens.INVALID_REFRESH, 422: "refresh_token is required"},
    limits=[AUTH_LIMIT],
)
def refresh(params: RefreshRequest) -> Response:
    """Exchange a refresh token (JSON ``refresh_token`` or ``Authorization: Bearer``) for a new pair. The
    presented token is revoked; presenting it again revokes the whole session."""
    token = params.refresh_token or bearer_token()
    if not token:
        raise ValidationFailed("refresh_token is required")
    user, pair = tokens.rotate(token)
    return jsonify(
        {
            "ok": True,
            "message": "Token refreshed",
            "user": public_user(user),
            "access_token": pair.access_token,
            "refresh_token": pair.refresh_token,
            "token_type": "bearer",
            "expires_in": pair.expires_in,
        }
    )


# --------------------------------------------------------------------------------------------------------
# Magic link


class MagicLinkRequest(ApiModel):
    email: EmailAddress

    error_messages = {"email": "email must be a valid e-mail address"}

    @field_validator("email")
    @classmethod
    def _valid_email(cls, value: str) -> str:
        return _email(value)


@api_route(
    "/auth/magic",
    methods=["POST"],
    summary="E-mail a sign-in link",
    tags=["Auth"],
    params=MagicLinkRequest,
    response=MagicLinkSent,
    errors={422: "email must be a valid e-mail address", 429: "Too many requests. Please try again later."},
    limits=[AUTH_LIMIT],
)
def request_magic_link(params: MagicLinkRequest) -> Response:
    """Always the same answer, account or not. The token is never in the response, except as
    ``debug_token`` / ``debug_url`` when ``MAGIC_LINK_DEBUG`` is on outside production."""
    issued = magic_link.request_link(params.email, language=preferred_language())
    body: dict[str, Any] = {"ok": True, "message": "Magic link sent to your email"}
    config = current_app.config
    if config.get("MAGIC_LINK_DEBUG") and config.get("APP_ENV") != "production" and issued.token:
        body.update(debug_token=issued.token, debug_url=issued.link)
    return jsonify(body)


class VerifyRequest(ApiModel):
    token: Annotated[Text, Field(max_length=512)]


@api_route(
    "/auth/verify",
    methods=["POST"],
    summary="Sign in with a link",
    tags=["Auth"],
    params=VerifyRequest,
    response=TokenResponse,
    errors={
        404: ["Invalid or expired magic link", "Magic link has expired", "Magic link has already been used"],
        403: "Account is deactivated",
        422: "token is required",
    },
    limits=[AUTH_LIMIT],
)
def verify_magic_link(params: VerifyRequest) -> Response:
    """Use a sign-in link once; the account is created now if the address has none."""
    user = magic_link.consume(params.token)
    tokens.record_login(user, "magic_link")
    return jsonify(token_response(user, "Logged in successfully"))


# --------------------------------------------------------------------------------------------------------
# Google sign-in


class OAuthSessionRequest(ApiModel):
    session_id: Any = None


@api_route(
    "/auth/oauth/session",
    methods=["POST"],
    summary="Google sign-in exchange",
    tags=["Auth"],
    params=OAuthSessionRequest,
    response=TokenResponse,
    errors={
        400: ["session_id is required", "Invalid session ID"],
        403: "Account is deactivated",
        502: "Authentication provider unavailable",
    },
)
def oauth_session(params: OAuthSessionRequest) -> Response:
    """Exchange the provider's ``session_id`` for our own tokens (returned in the body; no cookie)."""
    session_id = params.session_id
    if not isinstance(session_id, str) or not session_id.strip() or len(session_id) > 1000:
        raise RuleViolation("session_id is required")
    user = oauth.sign_in(session_id.strip())
    tokens.record_login(user, "oauth")
    return jsonify(token_response(user, "OAuth session processed successfully"))
