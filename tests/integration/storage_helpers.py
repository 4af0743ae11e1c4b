"""
Storage-level helpers for the integration tests (on top of strata_harness):
REST wrappers for pages and records, a page-image parser with CRC-32C (the
on-page layout of core/page.h), byte surgery on DIR/data.db (core/disk.h)
and a WebSocket helper that waits for several kinds of events at once.

Every wait is bounded.
"""
from __future__ import annotations

import base64
import json
import os
import struct
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterable

from strata_harness import (EVENT_TIMEOUT, FIXTURES, SCALE, StrataEnv, WsReader, assert_fixture_shape,
                            is_event, wait_for)

PAGE_SIZE = 4096          # stratad's default --page-size
PAGE_HEADER = 48          # core/page.h: the slot directory starts here
PAGE_MAGIC_OFF = 4
API = "/api/v1/storage"


# --------------------------------------------------------------------------
# base64 / bytes


def b64e(b: bytes) -> str:
    return base64.b64encode(b).decode()


def b64d(s: str) -> bytes:
    return base64.b64decode(s, validate=True)


_CRC32C_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC32C_TABLE.append(_c)


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), as core/crc32c.h."""
    c = 0xFFFFFFFF
    t = _CRC32C_TABLE
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


class PageImage:
    """A slotted page image (core/page.h layout, little-endian)."""

    def __init__(self, raw: bytes):
        self.raw = bytearray(raw)
        (self.checksum, self.magic, self.page_id, self.lsn, self.flags, self.slot_count,
         self.live_count, self.page_shift, self.version, self.free_start, self.free_end,
         self.frag_bytes) = struct.unpack_from("<IIQQHHHBBIII", self.raw, 0)

    def checksum_ok(self) -> bool:
        return crc32c(bytes(self.raw[4:])) == self.checksum

    def slot(self, i: int) -> tuple[int, int]:
        """(offset, length) of slot i."""
        return struct.unpack_from("<HH", self.raw, PAGE_HEADER + 4 * i)

    def record(self, i: int) -> bytes | None:
        """The bytes of slot i, or None when the slot is deleted / absent."""
        if i >= self.slot_count:
            return None
        off, n = self.slot(i)
        if off == 0 and n == 0:
            return None
        if n == 0:
            return b""
        return bytes(self.raw[off:off + n])

    def set_checksum(self) -> None:
        struct.pack_into("<I", self.raw, 0, crc32c(bytes(self.raw[4:])))
        self.checksum = struct.unpack_from("<I", self.raw, 0)[0]

    def bytes(self) -> bytes:
        return bytes(self.raw)


# --------------------------------------------------------------------------
# REST wrappers (each asserts the success status it documents)


def alloc_page(env: StrataEnv, **body: Any) -> int:
    r = env.request("POST", f"{API}/pages", body or {})
    assert r.status == 201, f"POST /pages: {r.status} {r.body}"
    pid = r.body.get("page_id") if isinstance(r.body, dict) else None
    assert isinstance(pid, int) and pid >= 1, f"POST /pages: no page_id in {r.body}"
    return pid


def insert(env: StrataEnv, page_id: int, data: bytes, sync: bool = True) -> int:
    r = env.request("POST", f"{API}/pages/{page_id}/records", {"data": b64e(data), "sync": sync})
    assert r.status == 201, f"insert into page {page_id}: {r.status} {r.body}"
    assert r.body.get("page_id") == page_id, r.body
    slot = r.body.get("slot")
    assert isinstance(slot, int) and slot >= 0, r.body
    return slot


def get_record(env: StrataEnv, page_id: int, slot: int) -> bytes:
    r = env.get(f"{API}/pages/{page_id}/records/{slot}")
    assert r.status == 200, f"GET record {page_id}/{slot}: {r.status} {r.body}"
    assert r.body.get("page_id") == page_id and r.body.get("slot") == slot, r.body
    assert isinstance(r.body.get("data"), str), r.body
    return b64d(r.body["data"])


def page_info(env: StrataEnv, page_id: int) -> dict:
    r = env.get(f"{API}/pages/{page_id}")
    assert r.status == 200, f"GET page {page_id}: {r.status} {r.body}"
    return r.body


def vectored_read(env: StrataEnv, ids: list[int]) -> dict[int, bytes]:
    r = env.request("POST", f"{API}/io/vectored-read", {"page_ids": ids})
    assert r.status == 200, f"vectored-read {ids}: {r.status} {r.body}"
    pages = r.body.get("pages")
    assert isinstance(pages, list) and len(pages) == len(ids), r.body
    out = {}
    for want, p in zip(ids, pages):
        assert p.get("page_id") == want, f"vectored-read answers out of order: {ids} -> {pages}"
        out[want] = b64d(p["data"])
    return out


def read_records_parallel(env: StrataEnv, keys: Iterable[tuple[int, int]],
                          workers: int = 8) -> dict[tuple[int, int], Any]:
    """GETs many records at once; maps (page, slot) to the bytes, or to the
    (status, body) of a non-200 answer."""
    keys = list(keys)

    def one(k):
        r = env.get(f"{API}/pages/{k[0]}/records/{k[1]}")
        if r.status == 200 and isinstance(r.body, dict) and isinstance(r.body.get("data"), str):
            return k, b64d(r.body["data"])
        return k, (r.status, r.body)

    with ThreadPoolExecutor(max_workers=workers) as ex:
        return dict(ex.map(one, keys))


def io_stats(env: StrataEnv) -> dict:
    r = env.get(f"{API}/io-stats")
    assert r.status == 200, f"GET /io-stats: {r.status} {r.body}"
    return r.body


# --------------------------------------------------------------------------
# the data file


def data_file(env: StrataEnv) -> Path:
    return env.data / "data.db"


def read_data_page(env: StrataEnv, page_id: int, page_size: int = PAGE_SIZE) -> bytes:
    with open(data_file(env), "rb") as f:
        f.seek(page_id * page_size)
        return f.read(page_size)


def overwrite_data_file(env: StrataEnv, offset: int, data: bytes) -> None:
    """Writes data at offset into DIR/data.db (stratad must not be running)."""
    path = data_file(env)
    size = path.stat().st_size
    assert offset + len(data) <= size, \
        f"data.db is {size} bytes: cannot overwrite [{offset}, {offset + len(data)})"
    fd = os.open(path, os.O_WRONLY)
    try:
        assert os.pwrite(fd, data, offset) == len(data)
        os.fsync(fd)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------
# processes


RECONNECT_TIMEOUT = 5.0 * SCALE


def restart_stratad(env: StrataEnv, *args: str, frames: int | None = None) -> None:
    """Starts stratad again on the same data dir and waits until the
    running frontend reports ready.

    Known bug (reported): after stratad is killed, strata-front's nng
    dialers occasionally stop redialing one of the two IPC sockets for
    good (no connect() at all; /readyz 503 forever). These tests are about
    storage, so when that happens the frontend is restarted (the brief
    allows it) and a warning says so; the frontend's own tests cover
    reconnection."""
    env.start_stratad(*args, frames=frames)
    try:
        env.wait_readyz(200, timeout=RECONNECT_TIMEOUT)
        _wait_status_of(env, env.stratad.pid, RECONNECT_TIMEOUT)
        return
    except AssertionError as e:
        stuck = str(e)
    warnings.warn(f"strata-front did not reconnect to a restarted stratad within "
                  f"{RECONNECT_TIMEOUT:.0f} s ({stuck}); restarting the frontend")
    env.front_restarts = getattr(env, "front_restarts", 0) + 1
    rc = env.front.stop()
    assert rc == 0, f"strata-front exited {rc} on SIGTERM:\n{env.front.describe()}"
    env.start_front()
    _wait_status_of(env, env.stratad.pid, RECONNECT_TIMEOUT)


def _wait_status_of(env: StrataEnv, pid: int, timeout: float) -> None:
    """Polls GET /status until it answers 200 from stratad `pid`. (Seen
    once: /readyz 200, then one 503 'unavailable' right after a restart.)"""
    last = []

    def ok():
        r = env.get(f"{API}/status", timeout=2)
        last[:] = [(r.status, r.body)]
        return r.status == 200 and isinstance(r.body, dict) and r.body.get("pid") == pid

    try:
        wait_for(ok, timeout, f"GET /status from stratad pid {pid}", interval=0.05)
    except TimeoutError as e:
        raise AssertionError(f"{e}; last answer {last}") from None


def sigterm_stratad(env: StrataEnv) -> None:
    rc = env.stop_stratad()
    assert rc == 0 and not env.stratad.forced_kill, \
        f"stratad did not stop cleanly on SIGTERM (exit {rc}):\n{env.stratad.describe()}"
    env.wait_readyz(503)


# --------------------------------------------------------------------------
# events


def event_variant(msg: dict) -> str | None:
    if not is_event(msg):
        return None
    d = msg["data"]
    return next(iter(d)) if len(d) == 1 else None


def event_fields(msg: dict) -> dict:
    return msg["data"][event_variant(msg)]


def ev(msg_type: str, variant: str, pred: Callable[[dict], bool] = lambda f: True):
    """A message predicate: a live event of that type and variant whose
    fields satisfy pred."""
    def p(m):
        return is_event(m, msg_type, variant) and bool(pred(m["data"][variant]))
    return p


async def expect_events(reader: WsReader, wants: dict[str, Callable[[dict], bool]],
                        timeout: float = EVENT_TIMEOUT) -> dict[str, dict]:
    """Reads until each named predicate has matched a message (the first
    match is kept); AssertionError naming what is missing at the deadline."""
    import asyncio

    got: dict[str, dict] = {}
    # Messages already seen by the reader count too.
    for m in reader.seen:
        for name, p in wants.items():
            if name not in got and p(m):
                got[name] = m
    deadline = time.monotonic() + timeout
    while len(got) < len(wants):
        left = deadline - time.monotonic()
        try:
            if left <= 0:
                raise asyncio.TimeoutError
            m = await reader.next(left)
        except asyncio.TimeoutError:
            missing = sorted(set(wants) - set(got))
            variants = {}
            for m2 in reader.seen:
                v = event_variant(m2)
                if v:
                    variants[v] = variants.get(v, 0) + 1
            raise AssertionError(
                f"within {timeout:.1f} s no event for {missing}; events seen by variant: "
                f"{variants}; last messages: {reader.recent()}") from None
        for name, p in wants.items():
            if name not in got and p(m):
                got[name] = m
    return got


def fixture_messages(family_file: str) -> dict[str, dict]:
    return {next(iter(m["data"])): m for m in json.loads((FIXTURES / family_file).read_text())}


def assert_events_match_fixtures(seen: list[dict], family_file: str, message_type: str) -> int:
    """Every live event in seen is of message_type, and each whose variant
    has a fixture has the fixture's shape. Returns how many were checked."""
    fx = fixture_messages(family_file)
    checked = 0
    for m in seen:
        if not is_event(m):
            continue
        assert m["message_type"] == message_type, f"a {m['message_type']} on the {message_type} stream: {m}"
        v = event_variant(m)
        assert v is not None, f"event data should hold exactly one variant: {m}"
        if v in fx:
            assert_fixture_shape(m, fx[v])
            checked += 1
    return checked
