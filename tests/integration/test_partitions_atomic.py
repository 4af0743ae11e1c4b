"""
Inserts into partitioned tables are atomic across partitions, also across a
crash (core/partition/intent.h, docs/partitions.md "Atomic inserts"):

- a deterministic crash inside an insert (debug.partitions_crash_after
  kills stratad with SIGKILL after the intent is logged and 0, 1 or 2 of 3
  partitions are written): after the restart the whole insert is there,
  rolled forward from the intent log;
- writers inserting batches spread over 4 partitions while stratad is
  killed -9 at random moments, several times: every acknowledged batch is
  entirely present, and no batch is partly present;
- whatever the first request after an interrupted insert is — table info,
  the table list, partition lists with row counts, partition-for, a query,
  adding, dropping a partition, dropping the table — it sees (and counts)
  the whole insert: after a crash and restart, and in a running stratad
  whose insert failed half-way (debug.partitions_fail_after), where that
  request is what completes the insert.
"""
from __future__ import annotations

import os
import random
import struct
import threading
import time
import urllib.error

import pytest

from lsm_helpers import restart_stratad
from strata_harness import HTTP_TIMEOUT, SCALE, wait_for

PT = "/api/v1/storage/partitioned-tables"
WIDTH = 100          # key range of one partition
NPARTS = 4


def create_table(env, name: str, nparts: int = NPARTS) -> dict:
    body = {"name": name, "key": "k", "strategy": "range",
            "partitions": [{"name": f"p{i}", "from": i * WIDTH, "to": (i + 1) * WIDTH}
                           for i in range(nparts)]}
    r = env.request("POST", PT, body)
    assert r.status == 201, r
    return r.body


def all_rows(env, table: str) -> list[dict]:
    rows: list[dict] = []
    after = None
    for _ in range(1000):
        body = {"where": {}, "limit": 10000, **({"after": after} if after else {})}
        r = env.request("POST", f"{PT}/{table}/query", body)
        assert r.status == 200, r
        rows += r.body["rows"]
        after = r.body["next"]
        if after is None:
            return rows
    raise AssertionError("query paging did not end")


def partition_of(row: dict) -> int:
    return int(row["k"]) // WIDTH


def _seed() -> int:
    return int(os.environ.get("STRATA_TEST_SEED", random.randrange(1 << 30)))


# --------------------------------------------------------------------------
# deterministic: killed between partition writes


def _insert_expecting_death(env, table: str, rows: list[dict]) -> None:
    """The insert kills stratad: no acknowledgement may come back."""
    try:
        r = env.request("POST", f"{PT}/{table}/rows", {"rows": rows}, timeout=HTTP_TIMEOUT)
    except (OSError, urllib.error.URLError):
        r = None
    assert r is None or r.status in (502, 503, 504), \
        f"an insert during which stratad died was answered: {r}"
    wait_for(lambda: not env.stratad.running(), 10 * SCALE, "stratad to die in the insert")
    assert env.stratad.returncode == -9, \
        f"stratad did not die by SIGKILL (exit {env.stratad.returncode}):\n{env.stratad.describe()}"
    assert "debug: killed inside an insert" in env.stratad.stderr(), env.stratad.stderr()
    env.wait_readyz(503)


@pytest.mark.parametrize("after", [0, 1, 2])
def test_crash_between_partition_writes_rolls_the_insert_forward(cluster, after):
    env = cluster
    create_table(env, "det", nparts=3)
    before = [{"k": i * WIDTH + 1, "batch": "before"} for i in range(3)]
    r = env.request("POST", f"{PT}/det/rows", {"rows": before})
    assert r.status == 200 and r.body["inserted"] == 3, r

    armed = env.cli("call", "debug.partitions_crash_after",
                    f'{{"name":"det","partitions":{after}}}')
    assert armed.returncode == 0, armed.stderr
    rows = [{"k": i * WIDTH + 50 + j, "batch": "crash", "j": j} for i in range(3) for j in range(2)]
    _insert_expecting_death(env, "det", rows)

    restart_stratad(env)
    got = all_rows(env, "det")
    crash = sorted((partition_of(x), x["j"]) for x in got if x["batch"] == "crash")
    assert crash == sorted((partition_of(x), x["j"]) for x in rows), \
        f"killed after {after} of 3 partitions: the restart shows {crash} of the insert's 6 rows"
    assert sum(x["batch"] == "before" for x in got) == 3, got
    assert "completed an interrupted insert" in env.stratad.stderr(), \
        f"the restart did not roll the insert forward:\n{env.stratad.stderr()}"
    parts = env.get(f"/api/v1/storage/partitions?table=det").body["partitions"]
    assert [p["rows"] for p in parts] == [3, 3, 3], parts

    # The table goes on as usual; a clean restart replays nothing.
    r = env.request("POST", f"{PT}/det/rows", {"rows": [{"k": 5, "batch": "after"}]})
    assert r.status == 200, r
    env.stop_stratad()
    env.wait_readyz(503)
    restart_stratad(env)
    assert "completed an interrupted insert" not in env.stratad.stderr()
    assert len(all_rows(env, "det")) == 10


def test_debug_crash_op_needs_a_table(cluster):
    for op in ("debug.partitions_crash_after", "debug.partitions_fail_after"):
        r = cluster.cli("call", op, '{"name":"nope","partitions":1}')
        assert r.returncode == 1 and "not_found" in r.stderr, (op, r.stdout, r.stderr)


# --------------------------------------------------------------------------
# the first request after an interrupted insert sees all of it

FIRST_OPS = ["table_info", "list_tables", "partitions_of_table", "all_partitions",
             "partition_for", "query", "add_partition", "drop_partition", "drop_table"]


def _intent_done(env, table: str) -> bool:
    """Whether the table's intent log (core/partition/intent.h) marks its
    last intent done: INTENT at offset 0, then a DONE of the same seq."""
    b = (env.data / "partitioned" / table / "INTENT.log").read_bytes()
    if len(b) < 32:
        return True                  # no intent logged
    _, ln = struct.unpack_from("<II", b, 0)
    kind, seq = b[12], struct.unpack_from("<Q", b, 16)[0]
    assert kind == 1, f"the record at 0 is not an INTENT: {b[:32]!r}"
    nxt = 8 + ln
    if len(b) < nxt + 24:
        return False
    return b[nxt + 12] == 2 and struct.unpack_from("<Q", b, nxt + 16)[0] == seq


def _interrupt_insert(env, mode: str) -> dict:
    """Table det (p0, p1, p2; one row each), then an insert of 2 rows per
    partition interrupted after 1 of its 3 partitions: by SIGKILL and a
    restart ("crash"), or by a failed partition write in the running
    stratad ("fail"), which leaves its intent pending. Returns the table's
    creation answer (partition ids)."""
    info = create_table(env, "det", nparts=3)
    before = [{"k": i * WIDTH + 1, "batch": "before"} for i in range(3)]
    r = env.request("POST", f"{PT}/det/rows", {"rows": before})
    assert r.status == 200 and r.body["inserted"] == 3, r
    op = "debug.partitions_crash_after" if mode == "crash" else "debug.partitions_fail_after"
    armed = env.cli("call", op, '{"name":"det","partitions":1}')
    assert armed.returncode == 0, armed.stderr
    rows = [{"k": i * WIDTH + 50 + j, "batch": "crash", "j": j} for i in range(3) for j in range(2)]
    if mode == "crash":
        _insert_expecting_death(env, "det", rows)
        restart_stratad(env)
    else:
        r = env.request("POST", f"{PT}/det/rows", {"rows": rows})
        assert r.status == 500 and r.body["error"]["code"] == "io_error", r
        assert "completed before the next operation" in r.body["error"]["message"], r
        assert "failing an insert into 'det' after 1 partition" in env.stratad.stderr()
        assert not _intent_done(env, "det"), "the failed insert's intent is not pending"
    return info


def _counts(parts: list[dict], table: str = "det") -> list[int]:
    return [p["rows"] for p in parts if p["table"] == table]


@pytest.mark.parametrize("first", FIRST_OPS)
@pytest.mark.parametrize("mode", ["crash", "fail"])
def test_first_request_after_an_interrupted_insert_sees_all_of_it(cluster, mode, first):
    env = cluster
    ids = {p["name"]: p["id"] for p in _interrupt_insert(env, mode)["partitions"]}
    what = f"{mode} after 1 of 3 partitions, then {first} first"
    if first == "table_info":
        r = env.get(f"{PT}/det")
        assert r.status == 200, r
        assert r.body["rows"] == 9 and _counts(r.body["partitions"]) == [3, 3, 3], f"{what}: {r.body}"
    elif first == "list_tables":
        r = env.get(PT)
        assert r.status == 200, r
        (t,) = [t for t in r.body["tables"] if t["name"] == "det"]
        assert t["rows"] == 9 and _counts(t["partitions"]) == [3, 3, 3], f"{what}: {t}"
    elif first == "partitions_of_table":
        r = env.get("/api/v1/storage/partitions?table=det")
        assert r.status == 200 and _counts(r.body["partitions"]) == [3, 3, 3], f"{what}: {r}"
    elif first == "all_partitions":
        r = env.get("/api/v1/storage/partitions")
        assert r.status == 200 and _counts(r.body["partitions"]) == [3, 3, 3], f"{what}: {r}"
    elif first == "partition_for":
        r = env.get(f"{PT}/det/partition-for?value=150")
        assert r.status == 200 and r.body["partition"] == "p1", f"{what}: {r}"
    elif first == "query":
        assert len(all_rows(env, "det")) == 9, what
    elif first == "add_partition":
        r = env.request("POST", "/api/v1/storage/partitions",
                        {"table": "det", "name": "p3", "definition": {"from": 300, "to": 400}})
        assert r.status == 201, f"{what}: {r}"
        parts = env.get("/api/v1/storage/partitions?table=det").body["partitions"]
        assert _counts(parts) == [3, 3, 3, 0], f"{what}: {parts}"
    elif first == "drop_partition":
        r = env.request("DELETE", f"/api/v1/storage/partitions/{ids['p2']}")
        assert r.status == 200 and r.body["dropped_rows"] == 3, \
            f"{what}: p2 held 1 row and 2 of the insert: {r}"
        parts = env.get("/api/v1/storage/partitions?table=det").body["partitions"]
        assert _counts(parts) == [3, 3], f"{what}: {parts}"
        assert len(all_rows(env, "det")) == 6, what
    elif first == "drop_table":
        r = env.request("DELETE", f"{PT}/det")
        assert r.status == 200 and r.body["dropped_rows"] == 9, f"{what}: {r}"
        return
    # That first request completed the insert (in the fail case it is what
    # completed it): its intent is marked done, every row is there.
    assert _intent_done(env, "det"), f"{what}: the insert's intent is still pending"
    if first not in ("drop_partition", "add_partition"):
        assert len(all_rows(env, "det")) == 9, what
        parts = env.get("/api/v1/storage/partitions?table=det").body["partitions"]
        assert _counts(parts) == [3, 3, 3], f"{what}: {parts}"


# --------------------------------------------------------------------------
# random kill -9 under concurrent multi-partition inserts


class _Writer(threading.Thread):
    """Inserts batches of 6..12 rows spread over all partitions, each row
    tagged with the batch id; records every attempt and whether it was
    acknowledged (200)."""

    def __init__(self, env, table: str, cycle: int, wid: int, seed: int, stop: threading.Event):
        super().__init__(daemon=True)
        self.env, self.table, self.cycle, self.wid = env, table, cycle, wid
        self.rng = random.Random(seed)
        self.stop_ev = stop
        self.batches: list[tuple[str, int, bool]] = []
        self.error: BaseException | None = None

    def run(self):
        try:
            for i in range(100000):
                if self.stop_ev.is_set():
                    return
                bid = f"c{self.cycle}w{self.wid}b{i:05d}"
                n = self.rng.randrange(6, 13)
                start = self.rng.randrange(NPARTS)
                rows = [{"k": ((start + j) % NPARTS) * WIDTH + self.rng.randrange(WIDTH),
                         "batch": bid, "j": j, "pad": "x" * self.rng.randrange(100)}
                        for j in range(n)]
                self.batches.append((bid, n, self._ok(rows)))
        except BaseException as e:  # reported by the test
            self.error = e

    def _ok(self, rows) -> bool:
        try:
            r = self.env.request("POST", f"{PT}/{self.table}/rows", {"rows": rows},
                                 timeout=HTTP_TIMEOUT)
        except (OSError, urllib.error.URLError):
            return False             # the connection broke: not acknowledged
        if r.status == 200:
            assert r.body["inserted"] == len(rows), r
            return True
        assert r.status in (502, 503, 504), f"unexpected answer during the crash test: {r}"
        return False


def test_kill9_during_multi_partition_inserts_is_all_or_nothing(cluster):
    env = cluster
    seed = _seed()
    rng = random.Random(seed)
    create_table(env, "atom")
    cycles, nwriters = 4, 3
    acked: dict[str, int] = {}
    maybe: dict[str, int] = {}
    partial_candidates = 0

    for cycle in range(cycles):
        stop = threading.Event()
        writers = [_Writer(env, "atom", cycle, w, rng.randrange(1 << 30), stop)
                   for w in range(nwriters)]
        for w in writers:
            w.start()
        t_end = time.monotonic() + 10 * SCALE
        while time.monotonic() < t_end and sum(
                ok for w in writers for *_, ok in w.batches) < 30:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.05, 0.6))
        env.kill_stratad()
        stop.set()
        for w in writers:
            w.join(timeout=30 * SCALE)
            assert not w.is_alive(), "a writer did not stop"
            assert w.error is None, f"writer failed: {w.error!r}"
        cycle_acked = 0
        for w in writers:
            for bid, n, ok in w.batches:
                (acked if ok else maybe)[bid] = n
                cycle_acked += ok
        assert cycle_acked >= 30, f"cycle {cycle}: only {cycle_acked} inserts acknowledged"
        env.wait_readyz(503)

        restart_stratad(env)
        rows = all_rows(env, "atom")
        what = f"after kill -9 #{cycle + 1} (seed {seed})"
        by_batch: dict[str, list[dict]] = {}
        for x in rows:
            by_batch.setdefault(x["batch"], []).append(x)
        unknown = set(by_batch) - set(acked) - set(maybe)
        assert not unknown, f"{what}: rows of batches nobody inserted: {sorted(unknown)[:5]}"
        for bid, n in acked.items():
            got = sorted(x["j"] for x in by_batch.get(bid, []))
            assert got == list(range(n)), \
                f"{what}: acknowledged batch {bid} has rows {got} of {n}"
        for bid, n in maybe.items():
            got = sorted(x["j"] for x in by_batch.get(bid, []))
            assert got in ([], list(range(n))), \
                f"{what}: unacknowledged batch {bid} is partly present: rows {got} of {n} " \
                f"(partitions {sorted({partition_of(x) for x in by_batch[bid]})})"
            partial_candidates += 1
        # Every batch covers every partition: the kills hit inserts spread
        # over partitions, and the counts agree with the rows.
        parts = env.get("/api/v1/storage/partitions?table=atom").body["partitions"]
        assert sum(p["rows"] for p in parts) == len(rows), (parts, len(rows))

    assert partial_candidates >= 1, "no insert was in flight at any kill"
    print(f"atomic insert crash test: {len(acked)} acknowledged batches, "
          f"{len(maybe)} unacknowledged, over {cycles} kill -9 cycles (seed {seed})")
