"""The dependency every /v1 route uses: the caller the gate (auth.gate) let in."""

from __future__ import annotations

from fastapi import Request

from formcase.auth.gate import PRINCIPAL_KEY
from formcase.auth.principal import Principal


# async, though it awaits nothing: FastAPI runs a plain function dependency in a thread pool.
async def require_principal(request: Request) -> Principal:
    principal = request.scope.get("state", {}).get(PRINCIPAL_KEY)
    if not isinstance(principal, Principal):
        # Only a route outside the gate's prefix can get here: a wiring mistake, not a caller's.
        raise RuntimeError(f"{request.url.path} is not behind the /v1 gate (auth.gate.ApiGate)")
    return principal
