"""Who is calling: a token and the workspaces it grants."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from formcase.kit.errors import Forbidden, NotFound


@dataclass(frozen=True)
class Principal:
    token_id: uuid.UUID
    workspace_ids: frozenset[uuid.UUID]

    def grants(self, workspace_id: uuid.UUID) -> bool:
        return workspace_id in self.workspace_ids

    def require(self, what: str, ident: object, workspace_id: uuid.UUID | None) -> None:
        """The access rule for one thing asked for by id (`workspace_id` None: not found):
        what does not exist is 404, what exists in a workspace the token does not grant 403."""
        if workspace_id is None:
            raise NotFound(f"No {what.lower()} with id {ident}.")
        if not self.grants(workspace_id):
            raise Forbidden(f"{what} {ident} belongs to a workspace this token does not grant.")
