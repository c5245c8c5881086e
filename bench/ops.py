"""The operations, each expressed three ways: an HTTP request, the raw SQL call, and the peer call."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import count

import orjson

from bench.corpus import texts
from bench.httpload import Request, RequestFactory
from bench.peers import Peer
from bench.rawsql import RawStore
from bench.stats import Measurement, summarize
from chatmem.server.params import encode_keyset

API = "/api/v1"
OPS = (
    "append_1",
    "append_10",
    "get_memory",
    "get_session",
    "patch_metadata",
    "list_first",
    "list_deep_offset",
    "list_deep_keyset",
    "message_list",
)
PEER_OPS = ("append_1", "append_10", "get_memory", "message_list")
Call = Callable[[], object]


@dataclass
class Workload:
    """Which sessions each operation touches, and the parameters it sends."""

    read_sessions: list[str]
    append_sessions: list[str]
    lastn: int
    page_size: int
    message_page: int
    deep_offset: int = 0
    deep_after: int = 0
    seed: int = 1
    _rng: random.Random = field(init=False)
    _stream: Iterator[str] = field(init=False)
    _counter: count[int] = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._stream = texts(self.seed)
        self._counter = count()

    def _read_id(self) -> str:
        return self._rng.choice(self.read_sessions)

    def _picker(self, session_ids: list[str] | None) -> Callable[[], str]:
        if not session_ids:
            return self._read_id
        ids = session_ids
        return lambda: self._rng.choice(ids)

    def _append_id(self) -> str:
        return self._rng.choice(self.append_sessions)

    def _turns(self, n: int) -> list[tuple[str, str]]:
        return [("human" if i % 2 == 0 else "ai", next(self._stream)) for i in range(n)]

    def _patch(self) -> dict[str, object]:
        return {"bench": {"n": next(self._counter), "at": time.time()}, "tag": "bench"}

    # -- HTTP --------------------------------------------------------------------------------------

    def http(self, op: str, session_ids: list[str] | None = None) -> RequestFactory:
        """Requests for ``op``; ``session_ids`` overrides the sessions read (session-length sweep)."""
        pick = self._picker(session_ids)

        def append(n: int) -> RequestFactory:
            def make() -> Request:
                messages = [{"role": role, "content": content} for role, content in self._turns(n)]
                body = orjson.dumps({"messages": messages})
                return Request("POST", f"{API}/sessions/{self._append_id()}/memory", body)

            return make

        factories: dict[str, RequestFactory] = {
            "append_1": append(1),
            "append_10": append(10),
            "get_memory": lambda: Request("GET", f"{API}/sessions/{pick()}/memory?lastn={self.lastn}"),
            "get_session": lambda: Request("GET", f"{API}/sessions/{pick()}"),
            "patch_metadata": lambda: Request(
                "PATCH", f"{API}/sessions/{pick()}", orjson.dumps({"metadata": self._patch()})
            ),
            "list_first": lambda: Request("GET", f"{API}/sessions?limit={self.page_size}"),
            "list_deep_offset": lambda: Request(
                "GET", f"{API}/sessions?limit={self.page_size}&cursor={self.deep_offset}"
            ),
            "list_deep_keyset": lambda: Request(
                "GET", f"{API}/sessions?limit={self.page_size}&after={encode_keyset(self.deep_after)}"
            ),
            "message_list": lambda: Request(
                "GET", f"{API}/sessions/{pick()}/messages?limit={self.message_page}&cursor=1"
            ),
        }
        return factories[op]

    # -- floor (3): the SQL through the driver -----------------------------------------------------

    def raw(self, op: str, store: RawStore, session_ids: list[str] | None = None) -> Call:
        pick = self._picker(session_ids)
        calls: dict[str, Call] = {
            "append_1": lambda: store.append(self._append_id(), self._turns(1)),
            "append_10": lambda: store.append(self._append_id(), self._turns(10)),
            "get_memory": lambda: orjson.dumps(store.recent(pick(), self.lastn), option=orjson.OPT_UTC_Z),
            "get_session": lambda: orjson.dumps(store.get_session(pick()), option=orjson.OPT_UTC_Z),
            "patch_metadata": lambda: orjson.dumps(
                store.patch_metadata(pick(), self._patch()), option=orjson.OPT_UTC_Z
            ),
            "list_first": lambda: orjson.dumps(store.list_sessions(self.page_size), option=orjson.OPT_UTC_Z),
            "list_deep_offset": lambda: orjson.dumps(
                store.list_sessions(self.page_size, offset=self.deep_offset), option=orjson.OPT_UTC_Z
            ),
            "list_deep_keyset": lambda: orjson.dumps(
                store.list_sessions(self.page_size, after=self.deep_after), option=orjson.OPT_UTC_Z
            ),
            "message_list": lambda: orjson.dumps(
                store.list_messages(pick(), self.message_page, 1), option=orjson.OPT_UTC_Z
            ),
        }
        return calls[op]

    # -- peers ---------------------------------------------------------------------------------------

    def peer(self, op: str, peer: Peer, session_ids: list[str] | None = None) -> Call:
        pick = self._picker(session_ids)
        calls: dict[str, Call] = {
            "append_1": lambda: peer.append(self._append_id(), self._turns(1)),
            "append_10": lambda: peer.append(self._append_id(), self._turns(10)),
            "get_memory": lambda: peer.recent(pick(), self.lastn),
            "message_list": lambda: peer.page(pick(), self.message_page),
        }
        return calls[op]


def run_inproc(
    target: str, op: str, call: Call, *, max_requests: int, max_seconds: float, warmup: int
) -> Measurement:
    """Sequential calls in this process: latency and single-thread throughput, CPU of this process."""
    for _ in range(min(warmup, max_requests)):
        call()
    latencies: list[float] = []
    cpu_before = time.process_time()
    started = time.perf_counter()
    deadline = started + max_seconds
    while len(latencies) < max_requests and time.perf_counter() < deadline:
        t0 = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - t0)
    wall = time.perf_counter() - started
    return summarize(target, op, 1, latencies, wall, 0, client_cpu_s=time.process_time() - cpu_before)
