"""Who may call the API: a bearer token when one is set (required off loopback), and write endpoints only
with `--allow-writes`."""
from __future__ import annotations

import ipaddress
import secrets
import os
from dataclasses import dataclass, field

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

TOKEN_ENV = "STYLELENS_API_TOKEN"
_bearer = HTTPBearer(auto_error=False, description="required when the server was started with a token")


@dataclass(frozen=True)
class ServeSettings:
    """How the app guards itself: `token` (None = open, loopback only) and whether writes are allowed."""

    token: str | None = None
    allow_writes: bool = False
    threads: int = 40  # requests accepted at once (the thread pool of sync routes)
    compute_slots: int = field(default_factory=lambda: max(2, os.cpu_count() or 2))  # searches computing at once


class ServeConfigError(ValueError):
    """A server configuration that would expose the API unsafely."""


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and 'localhost' are loopback; every other address (0.0.0.0 included) is not."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to listen beyond loopback without a token."""
    if not is_loopback(host) and not token:
        raise ServeConfigError(f"binding to {host} exposes the API beyond this machine: give --token TOKEN "
                               f"(or set ${TOKEN_ENV}); every request must then send 'Authorization: Bearer TOKEN'")
    if token is not None and len(token) < 16:
        raise ServeConfigError("the API token must be at least 16 characters long")


def require_token(request: Request,
                  credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> None:
    """Every route depends on this: with a token set, a request without the right bearer token gets 401."""
    token = request.app.state.settings.token
    if token is None:
        return
    given = credentials.credentials if credentials is not None else ""
    if not secrets.compare_digest(given.encode(), token.encode()):
        raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})


def require_writes(request: Request) -> None:
    """Write routes depend on this: 403 unless the server was started with --allow-writes."""
    settings: ServeSettings = request.app.state.settings
    if not settings.allow_writes:
        raise HTTPException(403, "write endpoints are off; start the server with --allow-writes")
