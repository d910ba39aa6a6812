"""API keys for the HTTP endpoints that change things (the social webhook, the camera registry): where
they come from (an environment variable named in the configs) and how a request is checked.

Keys come from an environment variable holding a comma-separated list, so they never sit in the
config files in git. A request sends one as `X-API-Key: <key>` or `Authorization: Bearer <key>`.
"""
from __future__ import annotations

import hmac
import os
from typing import Callable, Iterable

from fastapi import Header, HTTPException


def keys_from_env(var: str) -> list[str]:
    return [k.strip() for k in os.environ.get(var, "").split(",") if k.strip()]


def request_key(x_api_key: str | None, authorization: str | None) -> str | None:
    if x_api_key:
        return x_api_key
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip() or None
    return None


def is_authorised(key: str | None, keys: Iterable[str]) -> bool:
    """Constant-time comparison against every accepted key (an empty list accepts none)."""
    return bool(key) and any(hmac.compare_digest(key.encode(), k.encode()) for k in keys if k)


def require_key(keys: Iterable[str], *, off_reason: str) -> Callable[..., None]:
    """A FastAPI dependency: 403 with `off_reason` when no key is configured (the endpoints are off),
    401 when the request's key is missing or wrong."""
    accepted = [k for k in keys if k]

    def check(x_api_key: str | None = Header(None), authorization: str | None = Header(None)) -> None:
        if not accepted:
            raise HTTPException(403, off_reason)
        if not is_authorised(request_key(x_api_key, authorization), accepted):
            raise HTTPException(401, "missing or wrong API key (send it in the X-API-Key header)")

    return check
