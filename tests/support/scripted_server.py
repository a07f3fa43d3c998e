"""A scripted upstream for client tests: a real server process whose answers the test dictates.

    python tests/support/scripted_server.py PORT

POST /__script  takes a JSON list of answers for the next requests to /v1/completions, in order:
    {"status": 429, "headers": {"Retry-After": "1"}, "body": {...}}   a JSON answer
    {"events": ["data: {...}", ...], "interval": 0.05, "cut": false}  an SSE answer, an event at a
                                                                      time; `cut` drops the connection
                                                                      after the last one, without [DONE];
                                                                      `raw` sends each as it is, without
                                                                      the blank line that ends an event
    {"delay": 2.0}                                                    wait before answering
    {"reset": true}                                                   start a JSON answer, then drop
                                                                      the connection mid-body
With no script left, it answers a one-choice completion.
GET /__log       every request to /v1/completions (time, headers, body) and, for SSE answers, how many
                 events were sent before the client went away.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

SCRIPT: list[dict[str, Any]] = []
LOG: list[dict[str, Any]] = []

COMPLETION = {
    "id": "cmpl-scripted",
    "object": "text_completion",
    "created": 0,
    "model": "gpt-3.5-turbo-instruct",
    "choices": [{"text": "scripted", "index": 0, "logprobs": None, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}


async def script(request: Request) -> Response:
    SCRIPT[:] = await request.json()
    LOG.clear()
    return JSONResponse({"queued": len(SCRIPT)})


async def log(_request: Request) -> Response:
    return JSONResponse(LOG)


async def completions(request: Request) -> Response:
    entry: dict[str, Any] = {"time": time.monotonic(), "headers": dict(request.headers)}
    raw = await request.body()
    entry["body"] = json.loads(raw) if raw else None
    LOG.append(entry)
    answer = SCRIPT.pop(0) if SCRIPT else {"body": COMPLETION}
    if answer.get("delay"):
        await asyncio.sleep(answer["delay"])
    if answer.get("reset"):

        async def broken():
            yield b'{"id": "cmpl-'
            raise ConnectionResetError("reset by the script")

        return StreamingResponse(broken(), media_type="application/json")
    if "events" in answer:
        entry["sent"] = 0
        entry["disconnected"] = False

        async def events():
            try:
                for event in answer["events"]:
                    yield (event if answer.get("raw") else event + "\n\n").encode()
                    entry["sent"] += 1
                    await asyncio.sleep(answer.get("interval", 0))
                if answer.get("cut"):
                    raise ConnectionAbortedError("cut by the script")
            except (asyncio.CancelledError, GeneratorExit):
                entry["disconnected"] = True
                raise

        return StreamingResponse(events(), media_type="text/event-stream")
    status, headers = answer.get("status", 200), answer.get("headers")
    return JSONResponse(answer.get("body", COMPLETION), status_code=status, headers=headers)


app = Starlette(
    routes=[
        Route("/__script", script, methods=["POST"]),
        Route("/__log", log, methods=["GET"]),
        # Under any base path (`/v1`, or wherever a spec moved it): the upstream follows the spec.
        Route("/{base:path}/completions", completions, methods=["POST"]),
    ]
)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
