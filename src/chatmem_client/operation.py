"""Turn one endpoint function into the SDK's sync and async methods.

A resource class declares each operation twice, from the same endpoint function::

    get_session = sync(memory.get_session)
    aget_session = asynchronous(memory.get_session)

The endpoint function (``endpoints/``) has the method's exact signature and returns a ``Call``
(or a ``Paged`` list); the descriptors bind it to the client's transport. So the twins cannot drift
apart: they share the parameters, validation, path, body and response parsing, and differ only in
the executor.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, Generic, ParamSpec, Self, TypeVar, overload

from chatmem_client.call import Call, Paged
from chatmem_client.transport import Transport

P = ParamSpec("P")
T = TypeVar("T")
R = TypeVar("R")


class Resource:
    """A group of operations (``client.memory``, ``client.user``...) sharing the client's transport."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport


class _Operation(Generic[P, R]):
    """A descriptor: on an instance, the endpoint function bound to the instance's transport."""

    _prefix = ""

    def __init__(self, endpoint: Callable[P, Any]) -> None:
        self._endpoint = endpoint
        self._name = endpoint.__name__
        self.__doc__ = endpoint.__doc__
        # help() shows the endpoint's parameters; its return type (a Call) is not what the method returns.
        self._signature = inspect.signature(endpoint).replace(return_annotation=inspect.Signature.empty)

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self._name = name

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, obj: Resource, owner: type[Any]) -> Callable[P, R]: ...
    def __get__(self, obj: Resource | None, owner: type[Any]) -> Self | Callable[P, R]:
        if obj is None:
            return self
        method = self._bind(obj._transport)
        method.__name__ = self._name
        method.__qualname__ = f"{owner.__name__}.{self._name}"
        method.__doc__ = self._endpoint.__doc__
        method.__signature__ = self._signature  # type: ignore[attr-defined]
        return method

    def _bind(self, transport: Transport) -> Callable[P, R]:
        raise NotImplementedError


class sync(_Operation[P, T]):
    def __init__(self, endpoint: Callable[P, Call[T]]) -> None:
        super().__init__(endpoint)
        self._call_endpoint = endpoint

    def _bind(self, transport: Transport) -> Callable[P, T]:
        endpoint = self._call_endpoint

        def method(*args: P.args, **kwargs: P.kwargs) -> T:
            return transport.run(endpoint(*args, **kwargs))

        return method


class asynchronous(_Operation[P, Coroutine[Any, Any, T]]):
    def __init__(self, endpoint: Callable[P, Call[T]]) -> None:
        super().__init__(endpoint)
        self._call_endpoint = endpoint

    def _bind(self, transport: Transport) -> Callable[P, Coroutine[Any, Any, T]]:
        endpoint = self._call_endpoint

        async def method(*args: P.args, **kwargs: P.kwargs) -> T:
            return await transport.arun(endpoint(*args, **kwargs))

        return method


class sync_pages(_Operation[P, Iterator[list[T]]]):
    def __init__(self, endpoint: Callable[P, Paged[T]]) -> None:
        super().__init__(endpoint)
        self._paged_endpoint = endpoint

    def _bind(self, transport: Transport) -> Callable[P, Iterator[list[T]]]:
        endpoint = self._paged_endpoint

        def method(*args: P.args, **kwargs: P.kwargs) -> Iterator[list[T]]:
            # The endpoint function runs now, so bad arguments fail at the call, not at the first next().
            return transport.pages(endpoint(*args, **kwargs))

        return method


class async_pages(_Operation[P, AsyncIterator[list[T]]]):
    def __init__(self, endpoint: Callable[P, Paged[T]]) -> None:
        super().__init__(endpoint)
        self._paged_endpoint = endpoint

    def _bind(self, transport: Transport) -> Callable[P, AsyncIterator[list[T]]]:
        endpoint = self._paged_endpoint

        def method(*args: P.args, **kwargs: P.kwargs) -> AsyncIterator[list[T]]:
            return transport.apages(endpoint(*args, **kwargs))

        return method
