"""A small server that speaks the OpenAI protocol on 127.0.0.1, for testing the ``openai`` providers
through their real HTTP client path. It records every request and can fail or stall on demand."""

from __future__ import annotations

import hashlib
import json
import math
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DIMENSIONS = 8


def fake_vector(text: str, dimensions: int = DIMENSIONS) -> list[float]:
    """A deterministic unit vector per text."""
    digest = hashlib.sha256(text.encode()).digest()
    raw = [b - 127.5 for b in digest[:dimensions]]
    norm = math.sqrt(sum(x * x for x in raw))
    return [x / norm for x in raw]


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakeOpenAI:
    requests: list[Recorded] = field(default_factory=list)
    # Answer this many requests with HTTP 500 before answering normally (-1: fail for ever).
    failures: int = 0
    # While cleared, requests block (a provider that hangs); set by default.
    flowing: threading.Event = field(default_factory=threading.Event)
    dimensions: int = DIMENSIONS
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.flowing.set()

    def calls(self, path: str) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.path.endswith(path)]

    def answer(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.requests.append(Recorded(path, headers, body))
        self.flowing.wait(timeout=60)
        with self.lock:
            if self.failures:
                self.failures -= 1 if self.failures > 0 else 0
                return 500, {"error": {"message": "injected failure"}}
        if path.endswith("/embeddings"):
            texts = body["input"]
            # Out of order on purpose: clients must sort by index.
            data = [
                {"object": "embedding", "index": i, "embedding": fake_vector(t, self.dimensions)}
                for i, t in reversed(list(enumerate(texts)))
            ]
            return 200, {"object": "list", "data": data, "model": body["model"]}
        if path.endswith("/chat/completions"):
            prompt = body["messages"][0]["content"]
            lines = [line for line in prompt.splitlines() if ": " in line and not line.startswith("Current")]
            content = f"summary of {len(lines)} lines, last: {lines[-1] if lines else ''}"
            return 200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}
        return 404, {"error": {"message": "not found"}}


def serve(fake: FakeOpenAI) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            status, answer = fake.answer(self.path.split("?")[0], dict(self.headers.items()), body)
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"
