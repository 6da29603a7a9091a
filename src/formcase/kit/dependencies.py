"""Request dependencies for what the app holds: its settings and its file storage."""

from __future__ import annotations

from fastapi import Request

from formcase.config import Settings
from formcase.storage import Storage


async def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def storage_of(request: Request) -> Storage:
    storage: Storage = request.app.state.storage
    return storage
