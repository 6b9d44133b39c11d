"""The heap trimmer: glibc's malloc_trim found and callable here, a thread that calls it
on its interval, off at 0, one per process."""

from __future__ import annotations

import platform
import threading

import pytest

from controlplane import heap_trim


@pytest.fixture(autouse=True)
def _no_trimmer_left():
    yield
    thread = heap_trim._thread
    heap_trim._thread = None
    if thread is not None and thread.is_alive():
        thread.join(timeout=0)  # daemon: the stop Event returned to each test ended it


def test_malloc_trim_is_found_exactly_on_glibc():
    trim = heap_trim.libc_malloc_trim()
    if platform.libc_ver()[0] == "glibc":  # this machine and the Docker image
        assert trim is not None
        assert trim(0) in (0, 1)  # 1: memory was released, 0: none could be
    else:
        assert trim is None


def test_trims_on_its_interval_until_stopped():
    calls: list[int] = []
    twice = threading.Event()

    def fake_trim(pad: int) -> int:
        calls.append(pad)
        if len(calls) >= 2:
            twice.set()
        return 1

    stop = heap_trim.start(0.01, trim=fake_trim)
    assert stop is not None
    assert twice.wait(5), "the trimmer never called malloc_trim twice"
    stop.set()
    heap_trim._thread.join(5)
    assert not heap_trim._thread.is_alive()
    assert set(calls) == {0}  # pad 0: keep nothing spare at the top of the heap


def test_zero_interval_turns_it_off():
    assert heap_trim.start(0, trim=lambda pad: 1) is None
    assert heap_trim._thread is None


def test_one_trimmer_per_process():
    stop = heap_trim.start(60, trim=lambda pad: 1)
    assert stop is not None
    try:
        assert heap_trim.start(60, trim=lambda pad: 1) is None
    finally:
        stop.set()
        heap_trim._thread.join(5)


def test_web_workers_start_it(monkeypatch):
    """Importing the WSGI module (what each granian worker does) starts the trimmer with
    the setting's interval."""
    import importlib

    import controlplane.wsgi

    seen: list[float] = []
    monkeypatch.setattr(heap_trim, "start", lambda interval, **kw: seen.append(interval))
    importlib.reload(controlplane.wsgi)
    from django.conf import settings

    assert seen == [settings.SWITCHBOARD_MALLOC_TRIM_SECONDS]
