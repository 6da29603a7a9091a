"""Who is calling: a token and the workspaces it grants."""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    token_id: uuid.UUID
    workspace_ids: frozenset[uuid.UUID]

    def grants(self, workspace_id: uuid.UUID) -> bool:
        return workspace_id in self.workspace_ids
