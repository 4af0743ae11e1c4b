"""
JSON documents through the real processes (issue 7): the operators on
documents given in the body (/api/v1/storage/json/extract, set, delete,
merge, contains, keys, array-length, agg, parse), document collections with
path indexes (daemon/ops_json.c over core/json/jstore.c), their durability
across a clean restart and kill -9, and the `strata json` CLI.

Randomised tests print their seed; STRATA_TEST_SEED=N replays one.
"""
from __future__ import annotations

import json
import os
import random
import threading
import time
import urllib.parse

from strata_harness import SCALE, assert_json_error, is_int

J = "/api/v1/storage/json"
C = J + "/collections"

BOOKSTORE = {"store": {
    "book": [
        {"category": "reference", "author": "Nigel Rees", "title": "Sayings of the Century",
         "price": 8.95},
        {"category": "fiction", "author": "Evelyn Waugh", "title": "Sword of Honour",
         "price": 12.99},
        {"category": "fiction", "author": "Herman Melville", "title": "Moby Dick",
         "isbn": "0-553-21311-3", "price": 8.99},
        {"category": "fiction", "author": "J. R. R. Tolkien", "title": "The Lord of the Rings",
         "isbn": "0-395-19395-8", "price": 22.99},
    ],
    "bicycle": {"color": "red", "price": 399},
}}


def _seed() -> int:
    s = os.environ.get("STRATA_TEST_SEED")
    seed = int(s) if s else random.SystemRandom().randrange(1 << 30)
    print(f"STRATA_TEST_SEED={seed}")
    return seed


def post(env, path, body):
    return env.request("POST", path, body)


def ok(r, status=200):
    assert r.status == status, f"status {r.status}, expected {status}: {r.body}"
    return r.body


def q(s: str) -> str:
    return urllib.parse.quote(s, safe="")


def create(env, name, **kw):
    return post(env, C, {"name": name, **kw})


def put_doc(env, coll, doc_id, doc):
    return env.request("PUT", f"{C}/{coll}/docs/{q(doc_id)}", doc)


def get_doc(env, coll, doc_id):
    return env.get(f"{C}/{coll}/docs/{q(doc_id)}")


def query(env, coll, path, op, value, **kw):
    return post(env, f"{C}/{coll}/query", {"path": path, "op": op, "value": value, **kw})


# --------------------------------------------------------------------------
# 1. operators on documents in the body


def test_operators_over_http(cluster):
    env = cluster
    r = ok(post(env, J + "/extract", {"json": BOOKSTORE, "path": "$..author", "all": True}))
    assert r == {"result": ["Nigel Rees", "Evelyn Waugh", "Herman Melville", "J. R. R. Tolkien"]}
    r = ok(post(env, J + "/extract", {"json": BOOKSTORE, "path": "$..book[?@.price<10].title",
                                      "all": True}))
    assert r["result"] == ["Sayings of the Century", "Moby Dick"]
    r = ok(post(env, J + "/extract", {"json": BOOKSTORE, "path": "$..book[-1:].title", "all": False}))
    assert r == {"result": "The Lord of the Rings"}
    r = ok(post(env, J + "/extract", {"json": BOOKSTORE, "path": "$.nothing", "all": False}))
    assert r == {"result": None}
    r = ok(post(env, J + "/extract", {"json": {"日本": {"ключ": 1}}, "path": "$['日本'].ключ"}))
    assert r == {"result": [1]}

    r = ok(post(env, J + "/set", {"json": {"a": {}}, "path": "$.a.b.c", "value": [1, {"x": None}]}))
    assert r == {"result": {"a": {"b": {"c": [1, {"x": None}]}}}, "matched": 1}
    r = ok(post(env, J + "/set", {"json": {"a": [1]}, "path": "$.a[1]", "value": 2}))
    assert r["result"] == {"a": [1, 2]}
    err = assert_json_error(post(env, J + "/set", {"json": {"a": 5}, "path": "$.a.b", "value": 1}),
                            400, "bad_request")
    assert "number" in err["message"], err
    r = ok(post(env, J + "/delete", {"json": {"a": [0, 1, 2, 3]}, "path": "$.a[?@ >= 2]"}))
    assert r == {"result": {"a": [0, 1]}, "removed": 2}
    r = ok(post(env, J + "/merge", {"target": {"a": "b", "c": {"d": "e", "f": "g"}},
                                    "patch": {"a": "z", "c": {"f": None}}}))
    assert r == {"result": {"a": "z", "c": {"d": "e"}}}
    r = ok(post(env, J + "/contains", {"json": {"tags": ["x", "y"], "n": 1},
                                       "value": {"tags": ["y"]}}))
    assert r == {"result": True}
    r = ok(post(env, J + "/contains", {"json": {"tags": ["x", "y"]}, "path": "$.tags", "value": "z"}))
    assert r == {"result": False}
    r = ok(post(env, J + "/keys", {"json": {"b": 1, "a": 2, "é": 3}}))
    assert r == {"result": ["b", "a", "é"]}
    r = ok(post(env, J + "/keys", {"json": {"b": 1}, "path": "$.zz"}))
    assert r == {"result": None}
    r = ok(post(env, J + "/array-length", {"json": {"a": [1, 2, 3]}, "path": "$.a"}))
    assert r == {"result": 3}
    assert_json_error(post(env, J + "/array-length", {"json": {"a": {}}, "path": "$.a"}), 400,
                      "bad_request")
    docs = [{"k": "a", "v": 1}, {"k": "b", "v": 2}, {"k": "a", "v": 3}, {"z": 0}]
    r = ok(post(env, J + "/agg", {"docs": docs, "path": "$.v"}))
    assert r == {"result": [1, 2, 3]}
    r = ok(post(env, J + "/agg", {"fn": "json_object_agg", "docs": docs[:3], "key_path": "$.k",
                                  "value_path": "$.v"}))
    assert r == {"result": {"a": 3, "b": 2}}
    r = ok(post(env, J + "/parse", {"text": "[1, 2.5, \"x\"]"}))
    assert r == {"result": [1, 2.5, "x"], "type": "array"}
    err = assert_json_error(post(env, J + "/parse", {"text": "{\"a\":"}), 400, "bad_request")
    assert "line 1" in err["message"], err


def test_operator_errors_name_field_and_position(cluster):
    env = cluster
    for path, pos in (("$.a[", 4), ("$[?@.x ~ 1]", 7), ("$.a.", 4), ("a", 0), ("$[?length(@)]", 3)):
        err = assert_json_error(post(env, J + "/extract", {"json": {}, "path": path}), 400,
                                "bad_request")
        assert f"position {pos}" in err["message"], (path, err)
    err = assert_json_error(post(env, J + "/extract", {"path": "$"}), 400, "bad_request")
    assert "'json'" in err["message"], err
    err = assert_json_error(post(env, J + "/set", {"json": {}, "path": "$.a"}), 400, "bad_request")
    assert "'value'" in err["message"], err
    err = assert_json_error(post(env, J + "/merge", {"target": {}}), 400, "bad_request")
    assert "'patch'" in err["message"], err
    assert_json_error(post(env, J + "/extract", {"json": {}, "path": 5}), 400, "bad_request")
    assert_json_error(post(env, J + "/agg", {"fn": "sum", "docs": []}), 400, "bad_request")
    assert_json_error(post(env, J + "/delete", {"json": {"a": 1}, "path": "$"}), 400, "bad_request")


def test_jsonpath_functions_over_http(cluster):
    """RFC 9535 function extensions end to end (length, count, match, search,
    value); an ill-typed path is a 400 JSON error naming its position."""
    env = cluster

    def extract(doc, path):
        return ok(post(env, J + "/extract", {"json": doc, "path": path, "all": True}))["result"]

    assert extract(BOOKSTORE, "$.store.book[?length(@.title) > 15 && "
                              "search(@.author, 'Rees|Mel')].title") == ["Sayings of the Century"]
    assert extract(BOOKSTORE, "$..book[?match(@.isbn, '0-[0-9]{3}-[0-9]{5}-\\\\p{Nd}')].title") == \
        ["Moby Dick", "The Lord of the Rings"]
    assert extract(BOOKSTORE, "$.store[?count(@.*) == 2]") == [BOOKSTORE["store"]["bicycle"]]
    assert extract(BOOKSTORE, "$[?value(@..color) == 'red']") == [BOOKSTORE["store"]]
    assert extract({"w": ["日本語", "abc", "é", "😀😀😀"]}, "$.w[?length(@) == 3]") == \
        ["日本語", "abc", "😀😀😀"]
    assert extract({"v": [{"s": "abc", "p": "a.c"}, {"s": "abc", "p": "a(c"}]},
                   "$.v[?match(@.s, @.p)].p") == ["a.c"]   # invalid pattern in the doc: false

    for path, pos, what in (("$..book[?length(@.title)]", 9, "not well-typed"),
                            ("$[?count(1) == 1]", 9, "not well-typed"),
                            ("$[?length(@.*) == 1]", 10, "singular"),
                            ("$[?match(@.a, 'x') == true]", 3, "cannot be compared"),
                            ("$[?match(@, 'a(')]", 12, "invalid I-Regexp"),
                            ("$[?size(@) == 1]", 3, "unknown function 'size'")):
        err = assert_json_error(post(env, J + "/extract", {"json": BOOKSTORE, "path": path}), 400,
                                "bad_request")
        assert f"position {pos}" in err["message"] and what in err["message"], (path, err)


# --------------------------------------------------------------------------
# 2. collections


def test_collections_crud_indexes_and_queries(cluster):
    env = cluster
    ok(post(env, "/api/v1/storage/tablespaces", {"name": "fast"}), 201)
    r = create(env, "books", tablespace="fast")
    assert r.status == 201, r
    assert r.body["name"] == "books" and r.body["tablespace"] == "fast", r.body
    assert_json_error(create(env, "books"), 409, "conflict")
    for bad in ("", "a/b", "..", "a.b", "x" * 64, "sp ace"):
        err = assert_json_error(create(env, bad), 400, "bad_request")
        assert "name" in err["message"], (bad, err)
    assert_json_error(create(env, "ok2", tablespace="../etc"), 400, "bad_request")
    assert not (env.data / "json" / "a").exists()

    books = BOOKSTORE["store"]["book"]
    for i, b in enumerate(books):
        r = put_doc(env, "books", f"b{i}", b)
        assert r.status == 200 and r.body == {"collection": "books", "id": f"b{i}", "created": True}, r
    r = put_doc(env, "books", "b0", {**books[0], "price": 9.5})
    assert r.body["created"] is False, r
    r = ok(get_doc(env, "books", "b0"))
    assert r == {"id": "b0", "doc": {**books[0], "price": 9.5}}
    assert_json_error(get_doc(env, "books", "nope"), 404, "not_found")
    assert_json_error(get_doc(env, "nocoll", "b0"), 404, "not_found")
    assert_json_error(put_doc(env, "nocoll", "x", {}), 404, "not_found")
    assert_json_error(env.get(f"{C}/bad.name/docs/x"), 400, "bad_request")
    # unicode ids travel percent-encoded
    ok(put_doc(env, "books", "книга-1", {"title": "Война и мир", "price": 30}))
    assert ok(get_doc(env, "books", "книга-1"))["doc"]["title"] == "Война и мир"

    # full scan: no index yet
    r = ok(query(env, "books", "$.price", "<", 10))
    assert r["ids"] == ["b0", "b2"] and r["used_index"] is None and r["scanned"] == 5, r
    r = post(env, f"{C}/books/indexes", {"path": "$.price"})
    assert r.status == 201 and r.body["entries"] == 5, r
    assert_json_error(post(env, f"{C}/books/indexes", {"path": "$['price']"}), 409, "conflict")
    assert_json_error(post(env, f"{C}/books/indexes", {"path": "$.price["}), 400, "bad_request")
    r = ok(query(env, "books", "$.price", "<", 10, include_docs=True))
    assert r["ids"] == ["b0", "b2"] and r["used_index"] == "$.price", r
    assert r["scanned"] == 2 and [d["price"] for d in r["docs"]] == [9.5, 8.99], r
    r = ok(query(env, "books", "$['price']", ">=", 22.99))
    assert r["ids"] == ["b3", "книга-1"] and r["used_index"] == "$.price", r
    r = ok(query(env, "books", "$.category", "=", "fiction"))
    assert r["ids"] == ["b1", "b2", "b3"] and r["used_index"] is None, r
    # an update moves the index entry: the old price no longer matches
    ok(put_doc(env, "books", "b2", {**books[2], "price": 100}))
    r = ok(query(env, "books", "$.price", "<", 10))
    assert r["ids"] == ["b0"], r
    r = ok(env.get(f"{C}/books/indexes"))
    assert r["indexes"][0]["path"] == "$.price" and r["indexes"][0]["entries"] == 5, r
    ok(env.request("DELETE", f"{C}/books/docs/b0"))
    assert_json_error(env.request("DELETE", f"{C}/books/docs/b0"), 404, "not_found")
    r = ok(env.get(f"{C}/books/indexes"))
    assert r["indexes"][0]["entries"] == 4, r
    assert ok(query(env, "books", "$.price", "<", 10))["ids"] == []
    # tags: contains through an index on the array
    ok(put_doc(env, "books", "t1", {"tags": ["sea", "whale"]}))
    ok(put_doc(env, "books", "t2", {"tags": ["war"]}))
    ok(post(env, f"{C}/books/indexes", {"path": "$.tags"}), 201)
    r = ok(query(env, "books", "$.tags", "contains", "whale"))
    assert r["ids"] == ["t1"] and r["used_index"] == "$.tags", r
    r = ok(query(env, "books", "$.tags", "contains", ["war"]))
    assert r["ids"] == ["t2"] and r["used_index"] is None, r
    assert_json_error(query(env, "books", "$.price", "<", True), 400, "bad_request")
    assert_json_error(query(env, "books", "$.price", "like", 1), 400, "bad_request")
    err = assert_json_error(query(env, "books", "$.price[", "=", 1), 400, "bad_request")
    assert "position 8" in err["message"], err
    assert_json_error(query(env, "nocoll", "$.a", "=", 1), 404, "not_found")

    # listing with pagination
    seen, after = [], None
    while True:
        path = f"{C}/books/docs?limit=2" + (f"&after={q(after)}" if after else "")
        r = ok(env.get(path))
        seen += [it["id"] for it in r["items"]]
        if r["next"] is None:
            break
        after = r["items"][-1]["id"]
    assert seen == sorted(["b1", "b2", "b3", "книга-1", "t1", "t2"], key=lambda s: s.encode()), seen

    r = ok(env.get(C))
    names = {c["name"]: c for c in r["collections"]}
    assert set(names) == {"books"} and names["books"]["tablespace"] == "fast", r
    assert [i["path"] for i in names["books"]["indexes"]] == ["$.price", "$.tags"], r
    ok(env.request("DELETE", f"{C}/books/indexes?path={q('$.tags')}"))
    assert [i["path"] for i in ok(env.get(f"{C}/books"))["indexes"]] == ["$.price"]
    ok(env.request("DELETE", f"{C}/books"))
    assert_json_error(env.request("DELETE", f"{C}/books"), 404, "not_found")
    assert ok(env.get(C))["collections"] == []
    assert not any(p.name.startswith("books") for p in (env.data / "json").iterdir())


def _random_doc(rng):
    d = {"n": rng.choice([rng.randint(-5, 5), rng.randint(-5, 5) / 2, rng.choice("abcé"), None,
                          True, [rng.randint(0, 3) for _ in range(rng.randint(0, 3))]])}
    if rng.random() < 0.2:
        del d["n"]
    d["tags"] = [rng.choice(["x", "y", "z", 1, 2]) for _ in range(rng.randint(0, 3))]
    return d


def test_indexed_and_unindexed_queries_agree_over_http(cluster):
    env = cluster
    rng = random.Random(_seed())
    assert create(env, "r").status == 201
    for i in range(120):
        ok(put_doc(env, "r", f"d{rng.randrange(150):03d}", _random_doc(rng)))
    ok(post(env, f"{C}/r/indexes", {"path": "$.n"}), 201)
    ok(post(env, f"{C}/r/indexes", {"path": "$.tags[*]"}), 201)
    for _ in range(60):
        path = rng.choice(["$.n", "$.tags[*]"])
        op = rng.choice(["=", "<", "<=", ">", ">=", "contains"])
        value = rng.choice([rng.randint(-5, 5), rng.randint(-5, 5) / 2, rng.choice("abxyzé")])
        a = ok(query(env, "r", path, op, value, limit=10000, no_index=True))
        b = ok(query(env, "r", path, op, value, limit=10000))
        assert a["used_index"] is None and b["used_index"] == path, (a, b)
        assert a["ids"] == b["ids"], f"{path} {op} {value!r}: scan {a['ids']} index {b['ids']}"


# --------------------------------------------------------------------------
# 3. durability


def test_everything_survives_a_restart(cluster):
    env = cluster
    ok(post(env, "/api/v1/storage/tablespaces", {"name": "ts9"}), 201)
    assert create(env, "keep", tablespace="ts9").status == 201
    assert create(env, "other").status == 201
    ok(post(env, f"{C}/keep/indexes", {"path": "$.a.b"}), 201)
    for i in range(50):
        ok(put_doc(env, "keep", f"k{i:02d}", {"a": {"b": i % 7}, "i": i}))
    ok(env.request("DELETE", f"{C}/keep/docs/k00"))
    env.stop_stratad()
    env.wait_readyz(503)
    env.start_stratad()
    env.wait_readyz(200)
    r = ok(env.get(C))
    assert {c["name"] for c in r["collections"]} == {"keep", "other"}, r
    info = ok(env.get(f"{C}/keep"))
    assert info["tablespace"] == "ts9" and info["indexes"] == [{"path": "$.a.b", "state": "ready"}]
    assert_json_error(get_doc(env, "keep", "k00"), 404, "not_found")
    assert ok(get_doc(env, "keep", "k49"))["doc"] == {"a": {"b": 0}, "i": 49}
    r = ok(query(env, "keep", "$.a.b", "=", 0))
    assert r["used_index"] == "$.a.b" and r["ids"] == ["k07", "k14", "k21", "k28", "k35", "k42", "k49"], r
    assert ok(env.get(f"{C}/keep/indexes"))["indexes"][0]["entries"] == 49


class _Writer(threading.Thread):
    """Puts and deletes documents until stopped, recording each answer:
    acknowledged (200) or unknown (a refusal or timeout around the crash)."""

    def __init__(self, env, wid, seed, stop):
        super().__init__(daemon=True)
        self.env, self.wid, self.rng, self.stop = env, wid, random.Random(seed), stop
        self.log: list[tuple[str, str, object, bool]] = []  # (op, id, doc, acked)
        self.error = None

    def run(self):
        try:
            n = 0
            while not self.stop.is_set():
                doc_id = f"w{self.wid}-{self.rng.randrange(40):02d}"
                if self.rng.random() < 0.8:
                    n += 1
                    doc = {"v": self.rng.randint(0, 9), "w": self.wid, "n": n,
                           "tags": [self.rng.choice("abc")]}
                    try:
                        r = put_doc(self.env, "crash", doc_id, doc)
                    except OSError:
                        self.log.append(("put", doc_id, doc, False))
                        continue
                    self.log.append(("put", doc_id, doc, r.status == 200))
                else:
                    try:
                        r = self.env.request("DELETE", f"{C}/crash/docs/{doc_id}")
                    except OSError:
                        self.log.append(("del", doc_id, None, False))
                        continue
                    self.log.append(("del", doc_id, None, r.status in (200, 404)))
                if r.status in (503, 504):
                    time.sleep(0.01)
        except Exception as e:  # noqa: BLE001
            self.error = e


def test_kill9_keeps_acknowledged_writes_and_index_consistency(strata):
    env = strata.start()
    seed = _seed()
    rng = random.Random(seed)
    assert create(env, "crash").status == 201
    ok(post(env, f"{C}/crash/indexes", {"path": "$.v"}), 201)
    ok(post(env, f"{C}/crash/indexes", {"path": "$.tags"}), 201)
    # per id: the last acknowledged state, and whether a later unacknowledged
    # write may have replaced it
    state: dict[str, object] = {}
    pending: dict[str, list] = {}
    for cycle in range(2):
        stop = threading.Event()
        writers = [_Writer(env, w, rng.randrange(1 << 30), stop) for w in range(2)]
        for w in writers:
            w.start()
        deadline = time.monotonic() + 10 * SCALE
        while time.monotonic() < deadline and sum(
                sum(1 for *_, a in w.log if a) for w in writers) < 40:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.05, 0.4))
        env.kill_stratad()
        stop.set()
        for w in writers:
            w.join(timeout=30 * SCALE)
            assert not w.is_alive() and w.error is None, w.error
        acked = 0
        for w in writers:
            for op, doc_id, doc, a in w.log:
                # writers own disjoint ids, so their logs are in order per id
                val = doc if op == "put" else None
                if a:
                    state[doc_id] = val
                    pending[doc_id] = []
                    acked += 1
                else:
                    pending.setdefault(doc_id, []).append(val)
        assert acked >= 40, f"cycle {cycle}: only {acked} writes acknowledged"
        env.start_stratad()
        env.wait_readyz(200)
        what = f"after kill -9 #{cycle + 1} (seed {seed})"
        got = {}
        after = None
        while True:
            r = ok(env.get(f"{C}/crash/docs?limit=1000" + (f"&after={after}" if after else "")))
            got.update({it["id"]: it["doc"] for it in r["items"]})
            if r["next"] is None:
                break
            after = r["items"][-1]["id"]
        for doc_id, val in state.items():
            allowed = [val] + pending.get(doc_id, [])
            assert got.get(doc_id) in allowed, \
                f"{what}: {doc_id} is {got.get(doc_id)!r}, acknowledged {val!r}"
        for doc_id in got:
            assert doc_id in state or doc_id in pending, f"{what}: unexpected doc {doc_id}"
        # index entries agree with the documents
        for v in range(10):
            a = ok(query(env, "crash", "$.v", "=", v, limit=10000, no_index=True))
            b = ok(query(env, "crash", "$.v", "=", v, limit=10000))
            assert b["used_index"] == "$.v" and a["ids"] == b["ids"], (what, v, a, b)
            want = sorted((i for i, d in got.items() if d["v"] == v), key=lambda s: s.encode())
            assert b["ids"] == want, (what, v)
        idx = {i["path"]: i for i in ok(env.get(f"{C}/crash/indexes"))["indexes"]}
        assert idx["$.v"]["entries"] == len(got), (what, idx)
        assert idx["$.tags"]["entries"] == len(got), (what, idx)
        # the next cycle starts from what is there now
        state = {k: got.get(k) for k in set(state) | set(pending)}
        pending = {}


# --------------------------------------------------------------------------
# 4. CLI


def test_cli_json(cluster):
    env = cluster

    def cli(*args, rc=0):
        p = env.cli("--json", "json", *args)
        assert p.returncode == rc, f"strata json {args}: exit {p.returncode}\n{p.stdout}{p.stderr}"
        return json.loads(p.stdout) if rc == 0 and p.stdout.strip() else p

    r = cli("extract", json.dumps(BOOKSTORE), "$..book[?@.isbn].title")
    assert r == {"result": ["Moby Dick", "The Lord of the Rings"]}
    r = cli("extract", json.dumps(BOOKSTORE), "$..price", "--first")
    assert r == {"result": 8.95}
    p = cli("extract", "{}", "$[", rc=1)
    assert "position" in p.stderr, p.stderr
    ok(post(env, "/api/v1/storage/tablespaces", {"name": "tsA"}), 201)
    cli("collections", "create", "c1", "tsA")
    r = cli("collections")
    assert [c["name"] for c in r["collections"]] == ["c1"]
    cli("put", "c1", "x", '{"p": 5, "t": "hello"}')
    cli("put", "c1", "y", '{"p": 15}')
    assert cli("get", "c1", "x") == {"id": "x", "doc": {"p": 5, "t": "hello"}}
    cli("index", "c1", "$.p")
    r = cli("indexes", "c1")
    assert r["indexes"][0]["path"] == "$.p" and r["indexes"][0]["entries"] == 2
    r = cli("query", "c1", "$.p", ">", "10")
    assert r["ids"] == ["y"] and r["used_index"] == "$.p", r
    r = cli("query", "c1", "$.t", "=", "hello", "--docs")
    assert r["ids"] == ["x"] and r["docs"] == [{"p": 5, "t": "hello"}] and r["used_index"] is None
    r = cli("list", "c1", "1")
    assert [it["id"] for it in r["items"]] == ["x"] and r["next"] == "y"
    cli("del", "c1", "x")
    cli("get", "c1", "x", rc=1)
    cli("get", "nope", "x", rc=1)
    cli("frobnicate", rc=2)
    cli("put", "c1", "z", "{not json", rc=2)
    cli("collections", "drop", "c1")
    assert cli("collections") == {"collections": []}
