"""
The work budget of JSONPath evaluation through the real processes
(core/json/jbudget.h, stratad --json-path-budget): a pathological path — a
whole-document descent per candidate node, a regex per candidate over
every string — is stopped with 422 path_too_expensive naming the limit,
and stratad answers the next request at once; ordinary paths are
unaffected; a collection query's budget covers every document it reads;
an index path over its per-document budget is refused at create and on
put, and a delete is never refused.
"""
from __future__ import annotations

import subprocess

from strata_harness import HTTP_TIMEOUT, assert_json_error

J = "/api/v1/storage/json"
C = J + "/collections"

# count($..*) runs a whole-document descent for each of the 5000 elements:
# about 75 million units, over the default of 20 million.
QUADRATIC = "$[?count($..*) > 0]"


def post(env, path, body):
    return env.request("POST", path, body, timeout=HTTP_TIMEOUT * 3)


def test_pathological_paths_get_422_and_stratad_stays_responsive(strata):
    # The default budget is about 1.5 s of one core here, several under
    # ASan: the frontend's control timeout (5 s by default) must not cut it
    # short, or the answer is 504 instead of stratad's 422.
    strata.start_stratad()
    strata.start_front("--timeout-ms", "60000")
    cluster = strata
    r = post(cluster, J + "/extract", {"json": list(range(5000)), "path": QUADRATIC})
    err = assert_json_error(r, 422, "path_too_expensive")
    assert "budget of 20000000 units" in err["message"], err
    assert "--json-path-budget" in err["message"], err

    # the very next requests are answered: the worker is free again
    r = cluster.get("/api/v1/storage/status")
    assert r.status == 200, r
    r = post(cluster, J + "/extract", {"json": list(range(100)), "path": QUADRATIC})
    assert r.status == 200, r
    assert r.body["result"] == list(range(100))

    # a regex per candidate over every string: the matcher's steps count
    strings = ["a" * 1000] * 200
    r = post(cluster, J + "/extract",
             {"json": strings, "path": "$[?count($[?search(@, 'a{0,100}b')]) == 0]"})
    assert_json_error(r, 422, "path_too_expensive")
    # the same pattern once per string is ordinary work
    r = post(cluster, J + "/extract", {"json": strings, "path": "$[?search(@, 'a{0,100}b')]"})
    assert r.status == 200, r
    assert r.body["result"] == []

    # the ordinary examples still work
    r = post(cluster, J + "/extract", {
        "json": {"a": [{"t": "tea"}, {"t": "coffee"}]},
        "path": "$.a[?length(@.t) > 3 && search(@.t, \"f+\")].t", "all": True})
    assert r.status == 200 and r.body["result"] == ["coffee"], r


def test_budget_option_collections_and_indexes(strata):
    env = strata.start("--json-path-budget", "100000")
    # 1000 elements: about 3 million units, over 100000
    r = post(env, J + "/extract", {"json": list(range(1000)), "path": QUADRATIC})
    err = assert_json_error(r, 422, "path_too_expensive")
    assert "budget of 100000 units" in err["message"], err

    # every operator that evaluates a path is limited, with the same code
    # (under a small budget: each stops at once, even under ASan)
    doc = list(range(1000))
    for op, body in [("set", {"json": doc, "path": QUADRATIC, "value": 1}),
                     ("delete", {"json": doc, "path": QUADRATIC}),
                     ("keys", {"json": doc, "path": QUADRATIC}),
                     ("array-length", {"json": doc, "path": QUADRATIC}),
                     ("contains", {"json": doc, "path": QUADRATIC, "value": 1}),
                     ("agg", {"docs": [doc], "path": QUADRATIC})]:
        assert_json_error(post(env, J + "/" + op, body), 422, "path_too_expensive")

    assert post(env, C, {"name": "b"}).status == 201
    for i in range(30):
        r = env.request("PUT", f"{C}/b/docs/d{i:02d}", {"n": i, "a": list(range(100))})
        assert r.status == 200, r
    # about 11000 units per document: one budget for the 30 the scan reads
    slow = "$.a[?count($.a[*]) > 0]"
    r = post(env, C + "/b/query", {"path": slow, "op": ">", "value": 5})
    err = assert_json_error(r, 422, "path_too_expensive")
    assert "whole query" in err["message"], err
    r = post(env, C + "/b/query", {"path": "$.n", "op": ">=", "value": 28})
    assert r.status == 200 and r.body["ids"] == ["d28", "d29"], r

    # index paths: per document. 11000 units fit, a document of 400
    # elements (about 160000) does not: refused, nothing written
    r = post(env, C + "/b/indexes", {"path": slow})
    assert r.status == 201, r
    r = env.request("PUT", f"{C}/b/docs/big", {"n": 99, "a": list(range(400))})
    err = assert_json_error(r, 422, "path_too_expensive")
    assert slow in err["message"], err
    assert env.get(f"{C}/b/docs/big").status == 404
    r = env.request("DELETE", f"{C}/b/docs/d03")
    assert r.status == 200, r
    r = env.request("DELETE", f"{C}/b/indexes?path=%24.a%5B%3Fcount(%24.a%5B*%5D)%20%3E%200%5D")
    assert r.status == 200, r
    r = env.request("PUT", f"{C}/b/docs/big", {"n": 99, "a": list(range(400))})
    assert r.status == 200, r
    # an index whose path is over the budget on a stored document: not created
    r = post(env, C + "/b/indexes", {"path": slow})
    err = assert_json_error(r, 422, "path_too_expensive")
    assert "'big'" in err["message"], err
    assert env.get(C + "/b/indexes").body["indexes"] == []


def test_budget_option_is_checked(strata):
    p = subprocess.run([*strata.stratad_argv("--json-path-budget", "5")], capture_output=True,
                       text=True, timeout=HTTP_TIMEOUT)
    assert p.returncode == 2, p
    assert "--json-path-budget 5: expected an integer in 1000.." in p.stderr, p.stderr
