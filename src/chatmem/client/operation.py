"""Turn one request plan into the SDK's sync and async methods.

A resource class declares each operation twice, from the same plan function::

    get_session = sync(plan.get_session)
    aget_session = asynchronous(plan.get_session)

The plan has the method's exact signature and returns a ``Call`` (or a ``Paged`` list); the
descriptors bind it to the client's transport. So the twins cannot drift apart: they share the
parameters, validation, path, body and response parsing, and differ only in the executor.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, Generic, ParamSpec, Self, TypeVar, overload

from chatmem.client.call import Call, Paged
from chatmem.client.transport import Transport

P = ParamSpec("P")
T = TypeVar("T")
R = TypeVar("R")


class Resource:
    """A group of operations (``client.memory``, ``client.user``...) sharing the client's transport."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport


class _Operation(Generic[P, R]):
    """A descriptor: on an instance, the plan bound to the instance's transport."""

    _prefix = ""

    def __init__(self, plan: Callable[P, Any]) -> None:
        self._plan = plan
        self._name = plan.__name__
        self.__doc__ = plan.__doc__
        # help() shows the plan's parameters; its return type (a Call) is not what the method returns.
        self._signature = inspect.signature(plan).replace(return_annotation=inspect.Signature.empty)

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
        method.__doc__ = self._plan.__doc__
        method.__signature__ = self._signature  # type: ignore[attr-defined]
        return method

    def _bind(self, transport: Transport) -> Callable[P, R]:
        raise NotImplementedError


class sync(_Operation[P, T]):
    def __init__(self, plan: Callable[P, Call[T]]) -> None:
        super().__init__(plan)
        self._call_plan = plan

    def _bind(self, transport: Transport) -> Callable[P, T]:
        plan = self._call_plan

        def method(*args: P.args, **kwargs: P.kwargs) -> T:
            return transport.run(plan(*args, **kwargs))

        return method


class asynchronous(_Operation[P, Coroutine[Any, Any, T]]):
    def __init__(self, plan: Callable[P, Call[T]]) -> None:
        super().__init__(plan)
        self._call_plan = plan

    def _bind(self, transport: Transport) -> Callable[P, Coroutine[Any, Any, T]]:
        plan = self._call_plan

        async def method(*args: P.args, **kwargs: P.kwargs) -> T:
            return await transport.arun(plan(*args, **kwargs))

        return method


class sync_pages(_Operation[P, Iterator[list[T]]]):
    def __init__(self, plan: Callable[P, Paged[T]]) -> None:
        super().__init__(plan)
        self._paged_plan = plan

    def _bind(self, transport: Transport) -> Callable[P, Iterator[list[T]]]:
        plan = self._paged_plan

        def method(*args: P.args, **kwargs: P.kwargs) -> Iterator[list[T]]:
            # The plan runs now, so bad arguments fail at the call, not at the first next().
            return transport.pages(plan(*args, **kwargs))

        return method


class async_pages(_Operation[P, AsyncIterator[list[T]]]):
    def __init__(self, plan: Callable[P, Paged[T]]) -> None:
        super().__init__(plan)
        self._paged_plan = plan

    def _bind(self, transport: Transport) -> Callable[P, AsyncIterator[list[T]]]:
        plan = self._paged_plan

        def method(*args: P.args, **kwargs: P.kwargs) -> AsyncIterator[list[T]]:
            return transport.apages(plan(*args, **kwargs))

        return method
