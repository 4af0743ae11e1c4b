"""The GraphQL explorer (frontend/graphql/gql_explorer.h): GET /graphql from
a browser answers a self-contained page whose script and style come from
the frontend itself (no CDN: the CSP lws sends allows same-origin only),
public even with tokens; GET /graphql without text/html is still a 400 JSON
error. And the script, as served, run by Node on a minimal fake DOM against
a live frontend (tests/explorer/explorer.test.mjs): the example query's
numbers match REST, a GraphQL error, a variables error, a subscription that
receives a real event and is stopped. Loopback only."""
import os
import re
import subprocess

import pytest

from strata_harness import REPO, SCALE, node_argv

READ_TOKEN = "gqlx-read-token-0123456789"
ADMIN_TOKEN = "gqlx-admin-token-0123456789"
NODE_TEST = REPO / "tests" / "explorer" / "explorer.test.mjs"
HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def test_page_and_its_files_are_served(cluster):
    r = cluster.get("/graphql", headers=HTML)
    assert r.status == 200, r
    assert r.headers.get("Content-Type", "").startswith("text/html"), dict(r.headers)
    assert "script-src 'self'" in r.headers.get("Content-Security-Policy", ""), dict(r.headers)
    html = r.body
    assert isinstance(html, str) and "<title>" in html
    # self-contained: nothing from another host, no inline code
    assert "http://" not in html and "https://" not in html, html
    assert not re.search(r'(src|href)="//', html), html
    assert "unpkg" not in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script"
    assert "style=" not in html and "<style" not in html, html
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"
    for hook in ("query", "variables", "opname", "token", "run", "stop", "result", "schema"):
        assert f'id="{hook}"' in html, hook
    scripts = re.findall(r'<script[^>]*\bsrc="([^"]+)"', html)
    styles = re.findall(r'<link[^>]*rel="stylesheet"[^>]*href="([^"]+)"', html)
    assert scripts and styles, html
    want = {**{s: "text/javascript" for s in scripts}, **{s: "text/css" for s in styles}}
    for path, ctype in want.items():
        assert path.startswith("/"), path
        a = cluster.get(path)
        assert a.status == 200, (path, a)
        assert a.headers.get("Content-Type", "").startswith(ctype), (path, dict(a.headers))
        assert isinstance(a.body, str) and len(a.body) > 100, path
        assert "https://" not in a.body and "http://" not in a.body, path
    js = cluster.get(scripts[0]).body
    for hook in ("graphql-transport-ws", "connection_init", "'complete'", "__schema",
                 "Authorization", "sessionStorage"):
        assert hook in js, hook
    # The same path keeps its API: no text/html, no query -> 400 JSON
    r = cluster.get("/graphql", headers={"Accept": "application/json"})
    assert r.status == 400, r
    assert r.headers.get("Content-Type", "").startswith("application/json"), dict(r.headers)
    assert "missing 'query'" in r.body["errors"][0]["message"], r.body
    r = cluster.get("/graphql")
    assert r.status == 400 and isinstance(r.body, dict) and r.body["errors"], r
    # a browser asking with a query runs the query
    r = cluster.get("/graphql?query=%7BbufferPool%7BtotalPages%7D%7D", headers=HTML)
    assert r.status == 200 and r.body["data"]["bufferPool"]["totalPages"] > 0, r
    # the files take GET only; other names under /graphql are not found
    assert cluster.request("POST", scripts[0], {"query": "{ status { pid } }"}).status == 405
    assert cluster.get("/graphql/explorer.jsx").status == 404


def test_page_is_public_with_tokens(strata):
    tokens = strata.root / "tokens"
    tokens.write_text(f"{READ_TOKEN} read\n")
    strata.start_stratad()
    strata.start_front("--token-file", str(tokens))
    page = strata.get("/graphql", headers=HTML)
    assert page.status == 200 and "<title>" in page.body
    files = re.findall(r'<(?:script|link)[^>]*(?:src|href)="([^"]+)"', page.body)
    assert len(files) == 2, page.body
    for path in files:
        assert strata.get(path).status == 200, path
    # the API still needs the token
    assert strata.get("/graphql", headers={"Accept": "application/json"}).status == 401
    assert strata.get("/graphql?query=%7Bstatus%7Bpid%7D%7D", headers=HTML).status == 401
    assert strata.request("POST", "/graphql", {"query": "{ status { pid } }"}).status == 401


@pytest.mark.parametrize("with_token", [False, True])
def test_explorer_script_against_a_live_frontend(strata, with_token):
    env = {}
    args = []
    if with_token:
        tokens = strata.root / "tokens"
        tokens.write_text(f"{ADMIN_TOKEN} admin\n")
        args = ["--token-file", str(tokens)]
        env["STRATA_TOKEN"] = ADMIN_TOKEN
    strata.start_stratad()
    strata.start_front(*args)
    try:
        p = subprocess.run(node_argv(NODE_TEST) + [f"http://127.0.0.1:{strata.port}"],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           env={**os.environ, **env}, timeout=120 * SCALE)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"the Node test did not finish:\n{e.stdout}\n{e.stderr}") from None
    out = p.stdout + p.stderr
    if p.returncode == 77:
        pytest.skip(out)
    assert p.returncode == 0 and p.stdout.strip().splitlines()[-1:] == ["PASS"], out
