"""tcp:// endpoints and the cluster token (DESIGN.md: "tcp:// endpoints exist
for frontends on other hosts and require a cluster token"): stratad refuses a
network endpoint without a token file, refuses a token file others can read,
and answers control requests without the right "tok" with `unauthorized`;
the CLI sends the token from --cluster-token-file or
$STRATA_CLUSTER_TOKEN_FILE."""
import json
import os
import subprocess

from strata_harness import CLI, START_TIMEOUT, free_port, sanitizer_env

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
