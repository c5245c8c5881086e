"""In-server enrichment workers run at a lower CPU priority than the requests (CHATMEM_ENRICH_NICE)."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from chatmem.enrich.worker import lower_priority

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")


def test_lowering_a_threads_priority_leaves_the_other_threads_alone() -> None:
    seen: dict[str, int] = {}

    def worker() -> None:
        me = threading.get_native_id()
        before = os.getpriority(os.PRIO_PROCESS, me)
        lower_priority(3)
        seen["before"], seen["after"] = before, os.getpriority(os.PRIO_PROCESS, me)

    main_before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen["after"] == min(19, seen["before"] + 3)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == main_before
