"""
LSM-tree helpers for the integration tests (on top of strata_harness):
REST wrappers for the /api/v1/storage/lsm routes, a scan pager, restart
helpers, and a reader for the SSTable layout of core/lsm_sstable.h (footer
and index block) so a test can damage one known data block.

Keys and values: a str travels as "key"/"value" (UTF-8 text), bytes as
"key_b64"/"value_b64" (daemon/ops_lsm.c). Replies are decoded back to bytes
by item_bytes(), whichever of the two forms the server chose.

Every wait and every loop is bounded.
"""
from __future__ import annotations

import base64
import struct
import urllib.parse
from pathlib import Path
from typing import Any

from strata_harness import Response, StrataEnv

API = "/api/v1/storage/lsm"

SCAN_MAX = 1000           # daemon/ops_lsm.c SCAN_MAX
SST_FOOTER = 64           # core/lsm_sstable.h: footer bytes
SST_TRAILER = 5           # per block: u8 compression + u32 crc32c
SST_MAGIC = 0x3154535341525453


def b64e(b: bytes) -> str:
    return base64.b64encode(b).decode()


def b64d(s: str) -> bytes:
    return base64.b64decode(s, validate=True)


def as_bytes(v: str | bytes) -> bytes:
    return v.encode() if isinstance(v, str) else v


def blob_field(obj: dict, field: str, data: str | bytes) -> dict:
    """obj[field] = text, or obj[field_b64] = base64 for bytes."""
    if isinstance(data, bytes):
        obj[f"{field}_b64"] = b64e(data)
    else:
        obj[field] = data
    return obj


def item_bytes(obj: dict, field: str) -> bytes:
    """The bytes of obj's field, given as text (field) or base64 (field_b64);
    exactly one of the two must be present."""
    has_t, has_b = field in obj, f"{field}_b64" in obj
    assert has_t != has_b, f"expected exactly one of '{field}' / '{field}_b64' in {obj!r}"
    if has_t:
        assert isinstance(obj[field], str), f"'{field}' is not a string in {obj!r}"
        return obj[field].encode()
    return b64d(obj[f"{field}_b64"])


def quote_key(key: str | bytes) -> str:
    return urllib.parse.quote(as_bytes(key), safe="")


# --------------------------------------------------------------------------
# REST wrappers (return the Response; the test asserts)


def create(env: StrataEnv, name: str, **opts: Any) -> Response:
    return env.request("POST", API, {"name": name, **opts})


def create_ok(env: StrataEnv, name: str, **opts: Any) -> dict:
    r = create(env, name, **opts)
    assert r.status == 201, f"create {name} {opts}: {r}"
    return r.body


def put(env: StrataEnv, tree: str, key: str | bytes, value: str | bytes,
        sync: bool | None = None, **kw) -> Response:
    body: dict = {}
    blob_field(body, "key", key)
    blob_field(body, "value", value)
    if sync is not None:
        body["sync"] = sync
    return env.request("PUT", f"{API}/{tree}/put", body, **kw)


def put_ok(env: StrataEnv, tree: str, key: str | bytes, value: str | bytes) -> None:
    r = put(env, tree, key, value)
    assert r.status == 200, f"put {key!r}: {r}"


def get(env: StrataEnv, tree: str, key: str | bytes, encoding: str | None = None,
        **kw) -> Response:
    q = f"?encoding={encoding}" if encoding else ""
    return env.get(f"{API}/{tree}/get/{quote_key(key)}{q}", **kw)


def get_value(env: StrataEnv, tree: str, key: str | bytes) -> bytes | None:
    """The value's bytes, or None on 404; anything else fails the test."""
    r = get(env, tree, key)
    if r.status == 404:
        return None
    assert r.status == 200, f"get {key!r}: {r}"
    assert item_bytes(r.body, "key") == as_bytes(key), f"get {key!r} answered another key: {r.body}"
    return item_bytes(r.body, "value")


def delete(env: StrataEnv, tree: str, key: str | bytes) -> Response:
    return env.request("DELETE", f"{API}/{tree}/delete/{quote_key(key)}")


def batch(env: StrataEnv, tree: str, ops: list, **kw) -> Response:
    return env.request("POST", f"{API}/{tree}/batch", {"ops": ops}, **kw)


def op_put(key: str | bytes, value: str | bytes) -> dict:
    return {"put": blob_field(blob_field({}, "key", key), "value", value)}


def op_del(key: str | bytes) -> dict:
    return {"delete": blob_field({}, "key", key)}


def batch_put_all(env: StrataEnv, tree: str, kv: dict, per_batch: int = 500) -> None:
    items = list(kv.items())
    for i in range(0, len(items), per_batch):
        r = batch(env, tree, [op_put(k, v) for k, v in items[i:i + per_batch]])
        assert r.status == 200 and r.body == {"applied": len(items[i:i + per_batch])}, r


def stats(env: StrataEnv, tree: str) -> dict:
    r = env.get(f"{API}/{tree}/stats")
    assert r.status == 200, f"stats {tree}: {r}"
    return r.body["stats"]


def flush(env: StrataEnv, tree: str) -> Response:
    return env.request("POST", f"{API}/{tree}/flush")


def compact(env: StrataEnv, tree: str, **kw) -> Response:
    return env.request("POST", f"{API}/{tree}/compact", **kw)


def scan_page(env: StrataEnv, tree: str, start: str | bytes | None = None,
              end: str | bytes | None = None, limit: int | None = None,
              encoding: str | None = None) -> Response:
    q = []
    for field, v in (("start", start), ("end", end)):
        if v is None:
            continue
        if isinstance(v, bytes):
            q.append(f"{field}_b64={urllib.parse.quote(b64e(v), safe='')}")
        else:
            q.append(f"{field}={urllib.parse.quote(v, safe='')}")
    if limit is not None:
        q.append(f"limit={limit}")
    if encoding:
        q.append(f"encoding={encoding}")
    return env.get(f"{API}/{tree}/scan" + ("?" + "&".join(q) if q else ""))


def next_cursor(body: dict) -> bytes | None:
    """The continuation key of a scan page: "next" (text) or "next_b64"; None
    when the scan is complete."""
    nb = body.get("next_b64")
    if nb is not None:
        return b64d(nb)
    n = body.get("next")
    assert n is None or isinstance(n, str), f"'next' is neither a key nor null: {body!r}"
    return None if n is None else n.encode()


def scan_all(env: StrataEnv, tree: str, start: str | bytes | None = None,
             end: str | bytes | None = None, limit: int = SCAN_MAX,
             encoding: str | None = None, max_pages: int = 10000
             ) -> list[tuple[bytes, bytes]]:
    """Every (key, value) in [start, end), paging through the cursor."""
    out: list[tuple[bytes, bytes]] = []
    cur: str | bytes | None = start
    for _ in range(max_pages):
        r = scan_page(env, tree, cur, end, limit, encoding)
        assert r.status == 200, f"scan {tree} from {cur!r}: {r}"
        items = r.body["items"]
        assert isinstance(items, list) and len(items) <= limit, r.body
        out += [(item_bytes(it, "key"), item_bytes(it, "value")) for it in items]
        nxt = next_cursor(r.body)
        if nxt is None:
            return out
        assert len(items) == limit, f"a cursor after a short page ({len(items)} < {limit}): {r.body}"
        # A text cursor goes back as text, a binary one as start_b64.
        cur = nxt if "next_b64" in r.body else nxt.decode()
    raise AssertionError(f"scan of {tree} did not end within {max_pages} pages")


# --------------------------------------------------------------------------
# processes


def restart_stratad(env: StrataEnv) -> None:
    """Starts stratad again on the same data dir; waits until the running
    frontend reports ready."""
    env.start_stratad()
    env.wait_readyz(200)


def sigterm_stratad(env: StrataEnv) -> None:
    rc = env.stop_stratad()
    assert rc == 0 and not env.stratad.forced_kill, \
        f"stratad did not stop cleanly on SIGTERM (exit {rc}):\n{env.stratad.describe()}"
    env.wait_readyz(503)


# --------------------------------------------------------------------------
# SSTables on disk (core/lsm_sstable.h)


def tree_dir(env: StrataEnv, tree: str) -> Path:
    return env.data / "lsm" / tree


def sst_files(env: StrataEnv, tree: str) -> list[Path]:
    return sorted(tree_dir(env, tree).glob("*.sst"))


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    v = shift = 0
    for _ in range(10):
        b = buf[pos]
        pos += 1
        v |= (b & 0x7F) << shift
        if not b & 0x80:
            return v, pos
        shift += 7
    raise AssertionError("overlong varint in an SSTable index")


class SstBlock:
    def __init__(self, last_key: bytes, off: int, stored: int, raw: int):
        self.last_key, self.off, self.stored, self.raw = last_key, off, stored, raw


def sst_blocks(raw: bytes) -> list[SstBlock]:
    """The data blocks of an SSTable image, from its footer and index
    block (layout of core/lsm_sstable.h); asserts the layout holds."""
    assert len(raw) > SST_FOOTER, "SSTable shorter than its footer"
    ft = raw[-SST_FOOTER:]
    magic, _version, _flags, ioff, isize, foff, _fsize, _entries = struct.unpack_from(
        "<QIIQQQQQ", ft, 0)
    assert magic == SST_MAGIC, f"SSTable footer magic {magic:#x}: the layout changed?"
    assert 0 < foff <= ioff and ioff + isize <= len(raw) - SST_FOOTER, (foff, ioff, isize)
    index = raw[ioff:ioff + isize - SST_TRAILER]
    blocks, pos = [], 0
    while pos < len(index):
        klen, pos = _varint(index, pos)
        key = index[pos:pos + klen]
        pos += klen
        off, stored, rsize = struct.unpack_from("<QII", index, pos)
        pos += 16
        blocks.append(SstBlock(key, off, stored, rsize))
    # The data blocks tile [0, filter offset) in key order.
    at = 0
    for b in blocks:
        assert b.off == at and b.stored > SST_TRAILER, \
            f"index entry at {b.off} (+{b.stored}) does not follow {at}: the layout changed?"
        at += b.stored
    assert at == foff, f"data blocks end at {at}, the filter starts at {foff}"
    assert all(a.last_key < b.last_key for a, b in zip(blocks, blocks[1:])), "index not ascending"
    return blocks
