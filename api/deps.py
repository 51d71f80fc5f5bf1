"""``Annotated`` dependencies shared by the routers: settings, services, the index, the API key check."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.problems import ApiProblem
from api.services import Services
from api.settings import Settings
from indexer.base import VectorIndex

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="One of SV6D_API_KEYS")
bearer = HTTPBearer(auto_error=False, description="An API key as a bearer token (for Prometheus)")


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_settings(services: ServicesDep) -> Settings:
    return services.settings


def get_index(services: ServicesDep) -> VectorIndex:
    return services.index


SettingsDep = Annotated[Settings, Depends(get_settings)]
IndexDep = Annotated[VectorIndex, Depends(get_index)]


def _check_key(
    expected: list[bytes],
    key: str | None,
    token: HTTPAuthorizationCredentials | None,
) -> None:
    sent = key if key is not None else (token.credentials if token is not None else None)
    if sent is None:
        raise ApiProblem(
            401,
            "missing API key: send it in the X-API-Key header (or as Authorization: Bearer)",
            headers={"WWW-Authenticate": "ApiKey"},
        )
    given = sent.encode()
    # Compare against every key, without stopping early, so timing says nothing about which key matched.
    ok = False
    for candidate in expected:
        ok |= hmac.compare_digest(given, candidate)
    if not ok:
        raise ApiProblem(401, "invalid API key", headers={"WWW-Authenticate": "ApiKey"})


def require_api_key(
    settings: SettingsDep,
    key: Annotated[str | None, Security(api_key_header)] = None,
    token: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None,
) -> None:
    """401 unless a configured key is sent (``X-API-Key`` or ``Authorization: Bearer``); off when disabled."""
    if settings.auth_disabled:
        return
    _check_key(settings.key_bytes(), key, token)


def require_metrics_key(
    settings: SettingsDep,
    key: Annotated[str | None, Security(api_key_header)] = None,
    token: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None,
) -> None:
    """/metrics: an API key or one of ``SV6D_METRICS_KEYS`` (Prometheus' bearer token, which opens nothing
    else); off when auth is disabled. /healthz and /readyz never ask for a key (probes send none)."""
    if settings.auth_disabled:
        return
    _check_key(settings.metrics_key_bytes(), key, token)


Authorized = Depends(require_api_key)
MetricsAuthorized = Depends(require_metrics_key)


def check_k(k: int, settings: Settings, field: str = "k") -> None:
    if k > settings.limits.max_k:
        from api.problems import ApiProblem as _P

        raise _P(422, f"body.{field}: must be at most {settings.limits.max_k} (the service's limit)")
