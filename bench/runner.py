"""One benchmark run: load, measure every target, write the JSON results."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench import compare, corpus
from bench.dbs import fresh_database
from bench.httpload import run_http
from bench.loader import ChatmemLoader, SessionSpec, live_session_count, session_pk_at
from bench.ops import OPS, PEER_OPS, Workload, run_inproc
from bench.peers import Peer, peers_for
from bench.procs import HOST, ServerProcess, chatmem_server, floor_server
from bench.profiling import profile_server
from bench.rawsql import RawStore
from bench.scale import Scale
from bench.stats import Measurement
from chatmem.store import Database, migrate

RESULTS_DIR = Path(__file__).resolve().parent / "results"
# The keys a database holds in the auth-on modes (issue 11: the overhead must hold with 10,000 keys).
AUTH_STORED_KEYS = 10_000
Log = Callable[[str], None]


@dataclass
class Results:
    meta: dict[str, Any]
    main: list[Measurement] = field(default_factory=list)
    by_sessions: list[Measurement] = field(default_factory=list)
    by_length: list[Measurement] = field(default_factory=list)
    by_concurrency: list[Measurement] = field(default_factory=list)
    profiles: dict[str, Any] = field(default_factory=dict)
    # --auth compare: bench.compare's summary and measurements.
    auth: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "auth": self.auth,
            "meta": self.meta,
            "main": [m.to_json() for m in self.main],
            "by_sessions": [m.to_json() for m in self.by_sessions],
            "by_length": [m.to_json() for m in self.by_length],
            "by_concurrency": [m.to_json() for m in self.by_concurrency],
            "profiles": self.profiles,
        }


def _background(start: int, stop: int, scale: Scale) -> Iterator[SessionSpec]:
    for index in range(start, stop):
        turns = corpus.conversation(index, min_len=scale.background_min, max_len=scale.background_max)
        yield f"bg-{index:07d}", turns


def _probes(scale: Scale) -> Iterator[SessionSpec]:
    for length in scale.session_lengths:
        for i in range(scale.probes_per_length):
            yield f"probe-{length}-{i}", corpus.session_of_length(1000 * i + length, length)


def _append_pool(scale: Scale) -> Iterator[SessionSpec]:
    for i in range(64):
        yield f"append-{i}", corpus.session_of_length(5000 + i, scale.main_length)


def _auth_key(db: Database, stored: int) -> str:
    """A writer key of the default tenant (where the loader puts every row), ``stored`` others beside it."""
    from bench.auth_overhead import store_keys
    from chatmem.access import keys
    from chatmem.access.roles import Role

    store_keys(db, stored)
    return keys.create_key(db, "default", Role.WRITER, "bench").key


def _probe_ids(scale: Scale, length: int) -> list[str]:
    return [f"probe-{length}-{i}" for i in range(scale.probes_per_length)]


class Run:
    def __init__(
        self, db_kind: str, workers: int, scale: Scale, log: Log, *, profile: bool, auth: str = "off"
    ) -> None:
        self.db_kind = db_kind
        self.workers = workers
        self.scale = scale
        self.log = log
        self.profile = profile
        self.auth = auth
        # The credential chatmem's requests carry with --auth on (none otherwise).
        self.headers: tuple[bytes, ...] = ()

    def execute(self, *, keep: bool = False) -> Path:
        started = time.time()
        with tempfile.TemporaryDirectory(prefix="chatmem-bench-") as tmp, ExitStack() as stack:
            work_dir = Path(tmp)
            url = stack.enter_context(fresh_database(self.db_kind, work_dir, keep=keep))
            db = Database(url)
            stack.callback(db.dispose)
            migrate(db)
            peers = peers_for(url)
            for peer in peers:
                stack.callback(peer.close)
            store = RawStore(url)
            stack.callback(store.close)
            results = Results(meta=self._meta(url))
            self._run(db, url, work_dir, stack, peers, store, results)
            results.meta["duration_s"] = round(time.time() - started, 1)
            return self._write(results)

    def _meta(self, url: str) -> dict[str, Any]:
        return {
            "db": self.db_kind,
            "workers": self.workers,
            "scale": self.scale.name,
            "scale_params": dataclasses.asdict(self.scale),
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "command": " ".join(["python -m bench", *sys.argv[1:]]),
            "python": platform.python_version(),
            "cpus": psutil.cpu_count(),
            "load_avg_start": list(psutil.getloadavg()),
            "auth": self.auth,
        }

    def _run(
        self,
        db: Database,
        url: str,
        work_dir: Path,
        stack: ExitStack,
        peers: list[Peer],
        store: RawStore,
        results: Results,
    ) -> None:
        scale = self.scale
        loader = ChatmemLoader(db)
        loader.load(_probes(scale))
        loader.load(_append_pool(scale))
        for peer in peers:
            peer.bulk_load(_probes(scale))
            peer.bulk_load(_append_pool(scale))
        self.log(f"probes loaded: {loader.rows_loaded} messages in {loader.seconds:.1f}s")

        env = {}
        if self.auth == "on":
            key = _auth_key(db, AUTH_STORED_KEYS)
            self.headers = (f"Authorization: Bearer {key}".encode(),)
            env["CHATMEM_AUTH"] = "on"
            self.log(f"auth on: {AUTH_STORED_KEYS:,} keys stored, requests carry a writer key")
        chatmem = stack.enter_context(chatmem_server(url, self.workers, work_dir, env=env))
        noop = stack.enter_context(floor_server("noop", url, self.workers, work_dir))
        asgi = stack.enter_context(floor_server("asgi", url, self.workers, work_dir))
        self.log(f"servers up: chatmem :{chatmem.port}, floor-noop :{noop.port}, floor-asgi :{asgi.port}")

        workload = Workload(
            read_sessions=_probe_ids(scale, scale.main_length),
            append_sessions=[f"append-{i}" for i in range(64)],
            lastn=scale.lastn,
            page_size=scale.page_size,
            message_page=scale.message_page,
        )
        loaded = 0
        for target_count in scale.session_counts:
            loader.load(_background(loaded, target_count, scale))
            loaded = target_count
            self._set_depth(db, workload)
            self.log(
                f"{live_session_count(db)} sessions ({loader.rows_loaded} messages loaded in "
                f"{loader.seconds:.0f}s); deep page offset {workload.deep_offset}"
            )
            self._by_sessions(chatmem, store, workload, target_count, results)
        results.meta["load"] = {"messages": loader.rows_loaded, "seconds": round(loader.seconds, 1)}
        results.meta["sessions"] = live_session_count(db)
        results.meta["deep_page"] = workload.deep_offset // scale.page_size + 1

        peer_seconds = sum(peer.bulk_load(_background(0, loaded, scale)) for peer in peers)
        results.meta["peer_load_seconds"] = round(peer_seconds, 1)
        self.log(f"peer tables loaded with the same background in {peer_seconds:.0f}s")

        self._main(chatmem, noop, asgi, store, peers, workload, results)
        self._by_length(chatmem, asgi, store, peers, workload, results)
        self._by_concurrency(chatmem, noop, asgi, workload, results)
        if self.auth == "compare":
            self._auth_overhead(url, work_dir, results)
        if self.profile:
            results.profiles = profile_server(chatmem, workload, scale, work_dir, self.log, self.headers)
        results.meta["load_avg_end"] = list(psutil.getloadavg())

    def _set_depth(self, db: Database, workload: Workload) -> None:
        pages = max(1, live_session_count(db) // self.scale.page_size)
        deep_page = min(10_000, pages - 1)
        workload.deep_offset = deep_page * self.scale.page_size
        workload.deep_after = session_pk_at(db, workload.deep_offset - 1) if workload.deep_offset else 0

    def _http(
        self, server: ServerProcess, target: str, op: str, workload: Workload, concurrency: int, **kw: Any
    ) -> Measurement:
        scale = self.scale
        latency_only = concurrency == 1
        measurement = run_http(
            target,
            op,
            HOST,
            server.port,
            workload.http(op, kw.get("session_ids")),
            concurrency=concurrency,
            max_requests=scale.latency_requests if latency_only else scale.max_requests,
            max_seconds=scale.max_seconds,
            warmup=scale.warmup_requests,
            server_cpu=server.cpu_seconds,
            headers=self.headers if target == "chatmem" else (),
        )
        if measurement.errors:
            self.log(f"  !! {target} {op}: {measurement.errors} errors, first: {measurement.first_error}")
        return measurement

    def _inproc(self, target: str, op: str, call: Callable[[], object]) -> Measurement:
        scale = self.scale
        return run_inproc(
            target,
            op,
            call,
            max_requests=scale.latency_requests,
            max_seconds=scale.max_seconds,
            warmup=min(scale.warmup_requests, 20),
        )

    def _by_sessions(
        self, chatmem: ServerProcess, store: RawStore, workload: Workload, sessions: int, results: Results
    ) -> None:
        for op in ("get_memory", "get_session", "list_first", "list_deep_keyset", "list_deep_offset"):
            for m in (
                self._http(chatmem, "chatmem", op, workload, 1),
                self._inproc("floor3-sql", op, workload.raw(op, store)),
            ):
                m.extra = {"sessions": sessions, "deep_offset": workload.deep_offset}
                results.by_sessions.append(m)
        got = [m for m in results.by_sessions if m.extra["sessions"] == sessions and m.target == "chatmem"]
        self.log("  " + ", ".join(f"{m.op} p50 {m.p50_ms:.2f}ms" for m in got))

    def _main(
        self,
        chatmem: ServerProcess,
        noop: ServerProcess,
        asgi: ServerProcess,
        store: RawStore,
        peers: list[Peer],
        workload: Workload,
        results: Results,
    ) -> None:
        c = self.scale.concurrency
        for op in OPS:
            batch = [
                self._http(chatmem, "chatmem", op, workload, 1),
                self._http(chatmem, "chatmem", op, workload, c),
                self._http(noop, "floor1-http", op, workload, 1),
                self._http(noop, "floor1-http", op, workload, c),
                self._http(asgi, "floor2-asgi", op, workload, 1),
                self._http(asgi, "floor2-asgi", op, workload, c),
                self._inproc("floor3-sql", op, workload.raw(op, store)),
            ]
            if op in PEER_OPS:
                batch.extend(self._inproc(peer.name, op, workload.peer(op, peer)) for peer in peers)
            results.main.extend(batch)
            self.log(
                f"  {op}: "
                + ", ".join(
                    f"{m.target}@{m.concurrency} {m.throughput:.0f}/s p50 {m.p50_ms:.2f}ms" for m in batch
                )
            )

    def _by_length(
        self,
        chatmem: ServerProcess,
        asgi: ServerProcess,
        store: RawStore,
        peers: list[Peer],
        workload: Workload,
        results: Results,
    ) -> None:
        for length in self.scale.session_lengths:
            ids = _probe_ids(self.scale, length)
            batch = [
                self._http(chatmem, "chatmem", "get_memory", workload, 1, session_ids=ids),
                self._http(asgi, "floor2-asgi", "get_memory", workload, 1, session_ids=ids),
                self._inproc("floor3-sql", "get_memory", workload.raw("get_memory", store, ids)),
                *(self._inproc(p.name, "get_memory", workload.peer("get_memory", p, ids)) for p in peers),
                self._http(chatmem, "chatmem", "message_list", workload, 1, session_ids=ids),
            ]
            for m in batch:
                m.extra = {"length": length}
            results.by_length.extend(batch)
            self.log(
                f"  length {length}: " + ", ".join(f"{m.target} {m.op} p50 {m.p50_ms:.2f}ms" for m in batch)
            )

    def _by_concurrency(
        self,
        chatmem: ServerProcess,
        noop: ServerProcess,
        asgi: ServerProcess,
        workload: Workload,
        results: Results,
    ) -> None:
        for concurrency in self.scale.concurrency_sweep:
            for op in ("get_memory", "append_1"):
                for server, target in ((chatmem, "chatmem"), (asgi, "floor2-asgi"), (noop, "floor1-http")):
                    results.by_concurrency.append(self._http(server, target, op, workload, concurrency))
            self.log(f"  concurrency {concurrency} done")

    def _auth_overhead(self, url: str, work_dir: Path, results: Results) -> None:
        """Append and GET memory with auth off, off again (the A/A noise) and on, side by side."""
        quick = self.scale.name == "quick"
        sides = compare.auth_sides(url, work_dir, stored_keys=AUTH_STORED_KEYS)
        results.auth = compare.measure(
            sides, work_dir, rounds=4 if quick else 6, seconds=4.0 if quick else 8.0, log=self.log
        )
        for op, figures in results.auth["summary"].items():
            self.log(
                f"  auth {op}: on/off {figures['on/off throughput']:.3f} req/s, "
                f"{figures['on/off CPU per request']:.3f} CPU/req; off-again/off (noise) "
                f"{figures['off-again/off throughput']:.3f} req/s, "
                f"{figures['off-again/off CPU per request']:.3f} CPU/req"
            )

    def _write(self, results: Results) -> Path:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        path = RESULTS_DIR / f"{self.db_kind}-w{self.workers}-{self.scale.name}-{stamp}.json"
        path.write_text(json.dumps(results.to_json(), indent=1))
        return path
