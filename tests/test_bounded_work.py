"""No single request or job starves the server: page caps, heavy reads and large writes off the event
loop (``/healthz`` keeps answering while they run), a summarizer whose cost is linear in what it reads,
and connection limits that idle sockets cannot exhaust.

No latency is asserted (the machine is shared and noisy): the tests check interleaving instead, that
/healthz answers complete while a heavy request is in flight, which a stalled event loop prevents. The
100 ms figure is measured by ``python -m bench.healthz_stall`` (docs/benchmarks.md).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import httpx
import orjson
import pytest

from chatmem.enrich.summarizers import ExtractiveSummarizer
from tests.support import LiveServer

ServerFactory = Callable[..., AbstractContextManager[LiveServer]]


def test_pages_and_lastn_beyond_their_caps_are_400s(fresh_server: ServerFactory, sid: str) -> None:
    with (
        fresh_server(max_page_size=3, max_lastn=4) as server,
        httpx.Client(base_url=f"{server.url}/api/v1", timeout=30) as api,
    ):
        for n in range(5):
            api.post(f"/sessions/{sid}-{n}/memory", json={"messages": [{"role": "h", "content": f"{n}"}] * 5})
        assert api.get("/sessions", params={"limit": 4}).status_code == 400
        assert api.get(f"/sessions/{sid}-0/memory", params={"lastn": 5}).status_code == 400
        assert api.get(f"/sessions/{sid}-0/messages", params={"limit": 4}).status_code == 400
        # Without a limit: a full page of the cap, and the cursor to go on.
        page = api.get("/sessions")
        assert len(page.json()) == 3 and page.headers["X-Next-Cursor"]
        assert len(api.get(f"/sessions/{sid}-0/messages").json()["messages"]) == 3
        assert len(api.get(f"/sessions/{sid}-0/memory", params={"lastn": 4}).json()["messages"]) == 4


@contextmanager
def healthz_probe(url: str) -> Iterator[list[tuple[float, float]]]:
    """Asks for /healthz over and over on its own connection while the block runs; yields the (sent,
    answered) times of each answer."""
    answers: list[tuple[float, float]] = []
    stop = threading.Event()

    def probe() -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            while not stop.is_set():
                start = time.perf_counter()
                assert client.get("/healthz").text == "."
                answers.append((start, time.perf_counter()))
                time.sleep(0.005)

    thread = threading.Thread(target=probe)
    thread.start()
    try:
        yield answers
    finally:
        stop.set()
        thread.join()


def test_healthz_answers_while_large_writes_and_reads_run(fresh_server: ServerFactory, sid: str) -> None:
    big = "word " * 450_000  # two of these: a 4.5 MB append, just under the 5 MiB body limit
    windows: list[tuple[float, float]] = []

    def timed(call: Callable[[], httpx.Response]) -> httpx.Response:
        start = time.perf_counter()
        response = call()
        windows.append((start, time.perf_counter()))
        return response

    with (
        fresh_server(max_lastn=1000) as server,
        httpx.Client(base_url=f"{server.url}/api/v1", timeout=120) as api,
        healthz_probe(server.url) as answers,
    ):
        # Encoded before the clock starts: the server shares this process (and its GIL) with the
        # test's client, whose own JSON work on 4.5 MB must not count as the server's stall.
        body = orjson.dumps({"messages": [{"role": "h", "content": big}, {"role": "ai", "content": big}]})
        headers = {"Content-Type": "application/json"}
        for _ in range(3):
            assert (
                timed(lambda: api.post(f"/sessions/{sid}/memory", content=body, headers=headers)).text == "OK"
            )
        appends = list(windows)
        for _ in range(2):
            memory = timed(lambda: api.get(f"/sessions/{sid}/memory", params={"lastn": 1000}))
            assert len(memory.json()["messages"]) == 6
            assert len(timed(lambda: api.get(f"/sessions/{sid}/messages")).json()["messages"]) == 6
    # Each append spends far longer in the server than a /healthz round trip; had it held the event
    # loop, no /healthz answer could both start and finish inside it, and the longest wait for one
    # would be about as long as the heavy requests themselves, not a fraction of them.
    for start, end in appends:
        inside = [answer for answer in answers if start <= answer[0] and answer[1] <= end]
        assert inside, f"no /healthz answer while a {end - start:.2f} s append ran"
    # The wait of each probe sent while a heavy request ran, up to that request's end: a server that
    # held its loop for the request would make it about as long as the request. After the end, the
    # client decoding megabytes of JSON in this process holds the GIL, which is not the server's doing.
    longest_wait = max(
        min(answered, end) - sent
        for sent, answered in answers
        for start, end in windows
        if start <= sent <= end
    )
    longest_request = max(end - start for start, end in windows)
    assert longest_wait < longest_request / 2, (longest_wait, longest_request)


def test_the_extractive_summarizer_is_linear_in_the_sentences() -> None:
    summarizer = ExtractiveSummarizer(6)

    def seconds(sentences: int) -> float:
        line = "human: " + " ".join(f"w{i % 997} x{i}." for i in range(sentences))
        start = time.process_time()
        summarizer.summarize("", [line])
        return time.process_time() - start

    seconds(500)  # warm up
    small, large = min(seconds(2000) for _ in range(3)), min(seconds(20000) for _ in range(3))
    # Linear: 10x the sentences, ~10x the time. The old all-pairs version grew ~1000x (cubic); allow
    # a wide margin for a noisy machine.
    assert large < 40 * max(small, 1e-3), (small, large)


def test_a_message_of_thousands_of_sentences_is_summarized_promptly_and_stalls_nothing(
    fresh_server: ServerFactory, sid: str
) -> None:
    many = " ".join(f"w{i}." for i in range(2000))  # ~15 KB, the message that used to burn 90 s of CPU
    settings = {"enrich_workers": 1, "embeddings": "off", "summarizer": "extractive", "message_window": 4}
    with fresh_server(**settings) as server, httpx.Client(base_url=f"{server.url}/api/v1", timeout=30) as api:
        messages = [{"role": "h", "content": many}] + [
            {"role": "ai", "content": f"reply {n}."} for n in range(5)
        ]
        api.post(f"/sessions/{sid}/memory", json={"messages": messages})
        deadline = time.monotonic() + 60
        while api.get(f"/sessions/{sid}/memory").json()["summary"]["content"] == "":
            assert time.monotonic() < deadline, "no summary within 60 s"
            time.sleep(0.2)


def idle_sockets(port: int, count: int) -> list[socket.socket]:
    opened = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        opened.append(sock)
    return opened


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_idle_sockets_beyond_the_limit_do_not_lock_out_a_new_client(fresh_server: ServerFactory) -> None:
    with fresh_server(max_connections=20, header_timeout_seconds=60) as server:
        held = idle_sockets(server.port, 60)
        try:
            start = time.monotonic()
            assert httpx.get(f"{server.url}/healthz", timeout=10).text == "."
            assert time.monotonic() - start < 5
        finally:
            for sock in held:
                sock.close()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_connection_that_never_finishes_its_request_head_is_closed(fresh_server: ServerFactory) -> None:
    with fresh_server(header_timeout_seconds=1) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # no blank line: never complete
            start = time.monotonic()
            assert sock.recv(1024) == b""  # closed by the server
            assert time.monotonic() - start < 8
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert sock.recv(1024).startswith(b"HTTP/1.1 200")
            # Kept alive, then idle: the keep-alive timeout (5 s) or the head deadline closes it.
            assert sock.recv(1024) == b""


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_body_that_never_arrives_gets_408(fresh_server: ServerFactory) -> None:
    with (
        fresh_server(body_timeout_seconds=1) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock,
    ):
        sock.sendall(
            b"POST /api/v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
        )
        assert sock.recv(1024).startswith(b"HTTP/1.1 408")
