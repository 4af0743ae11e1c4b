"""tcp:// endpoints and the cluster token (DESIGN.md: "tcp:// endpoints exist
for frontends on other hosts and require a cluster token"): stratad refuses a
network endpoint without a token file, refuses a token file others can read,
and answers control requests without the right "tok" with `unauthorized`;
the CLI sends the token from --cluster-token-file or
$STRATA_CLUSTER_TOKEN_FILE."""
import asyncio
import json
import os
import subprocess

from strata_harness import (CLI, FRONT, START_TIMEOUT, WsReader, free_port, http, is_event,
                            sanitizer_env, wait_for, ws_open)

TOKEN = "cluster-token-for-tests-0123456789"


def token_file(strata, name="cluster.tok", text=TOKEN, mode=0o600):
    p = strata.root / name
    p.write_text(text + "\n")
    os.chmod(p, mode)
    return p


def tcp_urls():
    return f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"


def test_stratad_refuses_tcp_without_a_token(strata):
    ctl, ev = tcp_urls()
    p = strata.spawn("stratad", strata.stratad_argv("--ctl", ctl, "--events", ev))
    assert p.wait(START_TIMEOUT) == 2
    assert "refusing to serve it without --cluster-token-file" in p.stderr(), p.describe()


def test_stratad_refuses_a_token_file_others_can_read(strata):
    ctl, ev = tcp_urls()
    tok = token_file(strata, mode=0o644)
    p = strata.spawn("stratad", strata.stratad_argv("--ctl", ctl, "--events", ev,
                                                     "--cluster-token-file", str(tok)))
    assert p.wait(START_TIMEOUT) == 2
    assert "chmod 600" in p.stderr(), p.describe()
    short = token_file(strata, "short.tok", "abc")
    p = strata.spawn("stratad", strata.stratad_argv("--ctl", ctl, "--events", ev,
                                                     "--cluster-token-file", str(short)))
    assert p.wait(START_TIMEOUT) == 2
    assert "16 to 127 characters" in p.stderr(), p.describe()


def test_cli_over_tcp_needs_the_right_token(strata):
    ctl, ev = tcp_urls()
    tok = token_file(strata)
    strata.start_stratad("--ctl", ctl, "--events", ev, "--cluster-token-file", str(tok))
    ends = ("--ctl", ctl, "--events", ev)

    r = strata.cli(*ends, "--json", "status")
    assert r.returncode == 1, r
    assert "unauthorized" in r.stderr and "needs a cluster token" in r.stderr, r.stderr

    wrong = token_file(strata, "wrong.tok", "another-token-of-enough-length")
    r = strata.cli(*ends, "--cluster-token-file", str(wrong), "--json", "status")
    assert r.returncode == 1, r
    assert "wrong cluster token" in r.stderr, r.stderr

    r = strata.cli(*ends, "--cluster-token-file", str(tok), "--json", "status")
    assert r.returncode == 0, r
    assert json.loads(r.stdout)["pid"] == strata.stratad.pid

    # the environment variable works as the option does
    e = sanitizer_env(False)
    e["STRATA_CLUSTER_TOKEN_FILE"] = str(tok)
    r = subprocess.run([str(CLI), *ends, "--json", "status"], capture_output=True, text=True,
                       timeout=30, env=e, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r

    # a mutating op without the token does not run
    r = strata.cli(*ends, "call", "lsm.create", '{"name":"t1"}')
    assert r.returncode == 1 and "unauthorized" in r.stderr, r
    r = strata.cli(*ends, "--cluster-token-file", str(tok), "--json", "call", "lsm.list", "{}")
    assert r.returncode == 0, r
    assert "t1" not in r.stdout, r.stdout


def front_argv(strata, port, *extra):
    return [str(FRONT), "--listen", f"127.0.0.1:{port}", *extra]


def wait_ready(port, p, path="/readyz"):
    def ok():
        assert p.running(), p.describe()
        try:
            return http("GET", f"http://127.0.0.1:{port}{path}", timeout=2).status == 200
        except OSError:
            return False
    wait_for(ok, START_TIMEOUT, f"frontend {path} 200")


def test_frontend_over_tcp_with_the_token(strata):
    ctl, ev = tcp_urls()
    tok = token_file(strata)
    strata.start_stratad("--ctl", ctl, "--events", ev, "--cluster-token-file", str(tok))

    # without the token the frontend does not start
    p = strata.spawn("front-notoken", front_argv(strata, free_port(), "--ctl", ctl, "--events", ev))
    assert p.wait(START_TIMEOUT) == 2
    assert "--cluster-token-file" in p.stderr(), p.describe()

    # with a wrong one it starts, and control calls say what is wrong
    wrong = token_file(strata, "wrong.tok", "another-token-of-enough-length")
    port = free_port()
    p = strata.spawn("front-wrong", front_argv(strata, port, "--ctl", ctl, "--events", ev,
                                               "--cluster-token-file", str(wrong)))
    wait_ready(port, p, "/healthz")
    r = http("GET", f"http://127.0.0.1:{port}/api/v1/storage/status")
    assert r.status == 401 and "cluster token" in json.dumps(r.body), r
    p.stop()

    # with the token: REST and the event stream over tcp://
    port = free_port()
    p = strata.spawn("front", front_argv(strata, port, "--ctl", ctl, "--events", ev,
                                         "--cluster-token-file", str(tok)))
    wait_ready(port, p)
    r = http("GET", f"http://127.0.0.1:{port}/api/v1/storage/status")
    assert r.status == 200 and r.body["pid"] == strata.stratad.pid, r

    async def main():
        async with ws_open(f"ws://127.0.0.1:{port}/api/v1/ws/storage/buffer-pool") as ws:
            rd = WsReader(ws)
            await rd.first(lambda m: is_event(m, "buffer_pool_event", "PoolStats"),
                           what="PoolStats over tcp://")
    asyncio.run(main())
    p.stop()

