"""The floor for bench/attachments.py: the plainest ASGI app on the same server (uvicorn),
storing an upload's body as it comes and sending a file back, with nothing else."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ROOT = Path(os.environ.get("FLOOR_ROOT", "/tmp/formcase-floor"))
CHUNK = 1 << 20


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    path = ROOT / Path(scope["path"]).name
    if scope["method"] == "GET" and not path.is_file():
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    if scope["method"] in ("PUT", "POST"):
        with open(path, "wb") as file:  # noqa: ASYNC230 (the plainest possible: blocking I/O)
            while True:
                message = await receive()
                file.write(message.get("body", b""))
                if not message.get("more_body"):
                    break
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    size = path.stat().st_size
    headers = [
        (b"content-length", str(size).encode()),
        (b"content-type", b"application/octet-stream"),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    with open(path, "rb") as file:  # noqa: ASYNC230
        while chunk := file.read(CHUNK):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})
