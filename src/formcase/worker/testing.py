"""Job kinds for tests only: registered when FORMCASE_TEST_HANDLERS=1 (tests/worker)."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from formcase.worker.registry import JobContext, handler


@handler("test:record")
async def record(context: JobContext, payload: dict[str, Any]) -> None:
    """Appends `<job id> <pid>` to the file FORMCASE_TEST_HANDLER_FILE names, after
    sleeping `payload["sleep"]` seconds."""
    await asyncio.sleep(float(payload.get("sleep", 0)))
    line = f"{context.job_id} {os.getpid()}\n".encode()
    descriptor = os.open(
        os.environ["FORMCASE_TEST_HANDLER_FILE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600
    )
    try:
        os.write(descriptor, line)  # one short write in append mode: lines never interleave
    finally:
        os.close(descriptor)
