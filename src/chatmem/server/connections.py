"""Limits uvicorn does not have: a deadline for the request head, and a cap on open connections that
closes idle ones rather than refusing new clients.

uvicorn closes a keep-alive connection after ``timeout_keep_alive`` once a response is sent, but a
connection that never finishes its first request head (or trickles the head of the next one) is kept
open forever, and its ``limit_concurrency`` answers *new* clients with 503 once idle sockets fill it.
So one client holding thousands of idle sockets exhausts the file descriptors or locks everyone out.

``HeadDeadline`` (mixed into uvicorn's HTTP protocol) closes a connection that has not completed a
request head ``header_timeout`` seconds after it opened or after its last response, and, when a new
connection takes the process past ``max_connections``, closes the connection idle the longest (or,
with none idle, the new one).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from chatmem.config import Settings, get_settings

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Fastest
except ImportError:  # httptools is part of uvicorn[standard]; h11 is always there
    _Fastest = H11Protocol  # type: ignore[assignment,misc]


class HeadDeadline:
    """A mixin for uvicorn's HTTP protocols (they share ``connections``, ``cycle``, ``transport``,
    ``loop`` and ``on_response_complete``); limits come from class attributes."""

    header_timeout: float
    max_connections: int
    connections: set[Any]
    cycle: Any
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop

    _idle_since: float
    _deadline: asyncio.TimerHandle | None

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._deadline = None
        self._arm()
        if len(self.connections) > self.max_connections:
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        super().connection_lost(exc)  # type: ignore[misc]

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        self._arm()

    def _arm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._idle_since = self.loop.time()
        self._deadline = self.loop.call_later(self.header_timeout, self._expire, self.cycle)

    def _expire(self, cycle_when_armed: Any) -> None:
        # A new request head completed since the timer was armed (a new cycle): not idle.
        if self.cycle is cycle_when_armed and _idle(self):
            self.transport.close()

    def _make_room(self) -> None:
        idle = [c for c in self.connections if c is not self and isinstance(c, HeadDeadline) and _idle(c)]
        victim = min(idle, key=lambda c: c._idle_since) if idle else self
        victim.transport.close()


def _idle(protocol: Any) -> bool:
    return protocol.cycle is None or protocol.cycle.response_complete


def protocol_class(settings: Settings | None = None) -> type[asyncio.Protocol]:
    """uvicorn's fastest HTTP protocol with ``HeadDeadline`` and the limits of ``settings``."""
    if settings is None:
        return LimitedHttp
    return type(
        "ConfiguredLimitedHttp",
        (LimitedHttp,),
        {"header_timeout": settings.header_timeout_seconds, "max_connections": settings.max_connections},
    )


class LimitedHttp(HeadDeadline, _Fastest):  # type: ignore[misc]
    """What ``chatmem serve`` runs: uvicorn imports it by name in every worker process, so its limits
    come from the environment, as every other setting of a worker does."""

    @property
    def header_timeout(self) -> float:  # type: ignore[override]
        return get_settings().header_timeout_seconds

    @property
    def max_connections(self) -> int:  # type: ignore[override]
        return get_settings().max_connections


def uvicorn_options(settings: Settings, *, from_environment: bool = False) -> dict[str, Any]:
    """The uvicorn settings chatmem exposes as its own (``uvicorn.run`` / ``uvicorn.Config``).
    ``from_environment``: the protocol class is ``LimitedHttp`` itself, which worker processes can
    import by name (``chatmem serve``); otherwise a subclass holding ``settings``' limits."""
    options: dict[str, Any] = {"timeout_keep_alive": settings.keep_alive_seconds}
    if from_environment:
        # By name: worker processes import it. A worker imports it (and with it chatmem's settings)
        # before it answers the supervisor's first health ping, which on a loaded two-core machine
        # was seen to take longer than uvicorn's 5 s default: the supervisor then killed and
        # restarted its workers forever.
        options |= {"http": "chatmem.server.connections:LimitedHttp", "timeout_worker_healthcheck": 30}
    else:
        options["http"] = protocol_class(settings)
    return options
