"""
Process-level test harness for Strata: starts real `stratad` and
`strata-front` processes on a private data dir and loopback port, talks to
them over HTTP (urllib), WebSocket (websockets, asyncio) and the `strata`
CLI, and tears everything down.

Binaries come from $STRATA_BUILD (default <repo>/build), so the same suite
runs against the normal and the sanitizer builds.

Every wait in here is a bounded poll: nothing sleeps for a fixed time to
"let things settle".
"""
from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterable, NamedTuple

import websockets

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("STRATA_BUILD") or REPO / "build")
STRATAD = BUILD / "stratad"
FRONT = BUILD / "strata-front"
CLI = BUILD / "strata"
FIXTURES = REPO / "test_data" / "websocket"

# Sanitizer builds run several times slower: the deadlines below are upper
# bounds (a passing test returns as soon as its condition holds), so they
# are generous rather than tight.
SANITIZED = "san" in BUILD.name or "san" in str(BUILD.parent.name)
SCALE = 2.0 if SANITIZED else 1.0
START_TIMEOUT = 15.0 * SCALE   # a process is up / ready
STOP_TIMEOUT = 10.0 * SCALE    # a process exits after SIGTERM
EVENT_TIMEOUT = 10.0 * SCALE   # a WebSocket message arrives
HTTP_TIMEOUT = 10.0 * SCALE    # one HTTP request
CLI_TIMEOUT = 15.0 * SCALE     # one CLI invocation

# The stats interval every test stratad runs with (the minimum allowed).
STATS_INTERVAL_MS = 100

# A unix socket path (sun_path) holds at most 107 bytes plus the NUL.
MAX_SOCKET_PATH = 107


# --------------------------------------------------------------------------
# small utilities


def wait_for(pred: Callable[[], Any], timeout: float, what: str, interval: float = 0.02):
    """Polls pred until it returns something truthy (returned) or the
    deadline passes (TimeoutError naming `what`)."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.1f} s waiting for {what}")
        time.sleep(interval)


def node_argv(script: Path) -> list[str]:
    """argv running a Node test script of a served page (tests/node/page_test.mjs)
    with a browser-like WebSocket: global in Node >= 22, behind a flag in
    20-21, otherwise the script uses tests/graphql's ws package. Skips the
    calling test when node is not installed."""
    import pytest
    node = shutil.which("node")
    if not node:
        pytest.skip("node is not installed (make deps installs it)")
    flag = subprocess.run([node, "--experimental-websocket", "-e", "0"],
                          capture_output=True, timeout=30).returncode == 0
    return [node, *(["--experimental-websocket"] if flag else []), str(script)]


def free_port() -> int:
    """A currently free loopback TCP port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fnv1a64(s: str) -> int:
    h = 0xCBF29CE484222325
    for b in s.encode():
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def shm_segments_of(data_dir: str | os.PathLike) -> list[Path]:
    """The /dev/shm files of a data dir's two segments (shm/segment.c
    shm_names: FNV-1a of the data dir's real path)."""
    h = fnv1a64(os.path.realpath(data_dir))
    return [Path(f"/dev/shm/strata-{h:016x}-data"), Path(f"/dev/shm/strata-{h:016x}-stats")]


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def sanitizer_env(detect_leaks: bool) -> dict:
    """The environment with LeakSanitizer on or off (other sanitizer checks
    stay on; a normal build ignores ASAN_OPTIONS)."""
    env = dict(os.environ)
    opts = [o for o in env.get("ASAN_OPTIONS", "").split(":")
            if o and not o.startswith("detect_leaks=")]
    env["ASAN_OPTIONS"] = ":".join(opts + [f"detect_leaks={int(detect_leaks)}"])
    return env


# --------------------------------------------------------------------------
# processes


_live: "set[Proc]" = set()


@atexit.register
def _kill_leftovers() -> None:
    """If the test run itself dies (Ctrl-C), no child outlives it."""
    for p in list(_live):
        if p.running():
            p.popen.kill()


class Proc:
    """One child process with stdout/stderr captured to files."""

    def __init__(self, name: str, argv: list[str], logdir: Path, env: dict | None = None):
        self.name = name
        self.argv = [str(a) for a in argv]
        n = len(list(logdir.glob(f"{name}.*.out")))
        self.out_path = logdir / f"{name}.{n}.out"
        self.err_path = logdir / f"{name}.{n}.err"
        self.forced_kill = False
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.popen = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=logdir,
                env=env)
        _live.add(self)

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def running(self) -> bool:
        return self.popen.poll() is None

    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def send(self, sig: int) -> None:
        if self.running():
            self.popen.send_signal(sig)

    def wait(self, timeout: float) -> int:
        return self.popen.wait(timeout=timeout)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int:
        """sig, then wait; SIGKILL as a last resort (recorded in forced_kill)."""
        if self.running():
            self.popen.send_signal(sig)
            try:
                return self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.forced_kill = True
                self.popen.kill()
        return self.popen.wait(timeout=STOP_TIMEOUT)

    def kill(self) -> int:
        """SIGKILL (a crash, as far as the process can tell) and reap."""
        if self.running():
            self.popen.kill()
        return self.popen.wait(timeout=STOP_TIMEOUT)

    def describe(self) -> str:
        rc = self.returncode
        state = "running" if rc is None else f"exit {rc}"
        return (f"--- {self.name} pid {self.pid} ({state}): {' '.join(self.argv)}\n"
                f"--- stdout:\n{self.stdout()}--- stderr:\n{self.stderr()}")


# --------------------------------------------------------------------------
# HTTP


class Response(NamedTuple):
    status: int
    headers: Any          # http.client.HTTPMessage (case-insensitive get)
    body: Any             # decoded JSON, or the raw text when it is not JSON


# Loopback only, never through a proxy from the environment.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(method: str, url: str, body: Any = None, headers: dict | None = None,
         timeout: float = HTTP_TIMEOUT) -> Response:
    """One request. body: None, bytes/str (sent as is) or a JSON value."""
    if body is None or isinstance(body, bytes):
        data = body
    elif isinstance(body, str):
        data = body.encode()
    else:
        data = json.dumps(body).encode()
    hdrs = dict(headers or {})
    if data is not None:
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with _opener.open(req, timeout=timeout) as r:
            status, rh, raw = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, rh, raw = e.code, e.headers, e.read()
    text = raw.decode(errors="replace")
    try:
        parsed = json.loads(text) if text.strip() else None
    except json.JSONDecodeError:
        parsed = text
    return Response(status, rh, parsed)


def raw_http(port: int, request: bytes, timeout: float = HTTP_TIMEOUT,
             until_close: bool = False) -> bytes:
    """Sends raw bytes on a fresh connection; returns what came back (see
    read_response)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        return read_response(s, timeout, until_close)


def read_response(s: socket.socket, timeout: float = HTTP_TIMEOUT,
                  until_close: bool = False) -> bytes:
    """The first complete response (by Content-Length) read from s, or
    everything until the peer closes when until_close; bounded by timeout."""
    buf = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = s.recv(65536)
        except (socket.timeout, ConnectionResetError):
            break
        if not chunk:
            break
        buf += chunk
        if not until_close and _complete_response(buf):
            break
    return buf


def _complete_response(buf: bytes) -> bool:
    head, sep, rest = buf.partition(b"\r\n\r\n")
    if not sep:
        return False
    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    return m is not None and len(rest) >= int(m.group(1))


def parse_raw_response(buf: bytes) -> tuple[int, dict, Any]:
    """(status, lower-cased headers, JSON body or raw text) of one raw response."""
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode(errors="replace").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0]) if lines else None
    if not m:
        raise AssertionError(f"not an HTTP response: {buf[:200]!r}")
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    n = int(hdrs.get("content-length", len(rest)))
    text = rest[:n].decode(errors="replace")
    try:
        body = json.loads(text)
    except json.JSONDecodeError:
        body = text
    return int(m.group(1)), hdrs, body


def assert_json_error(resp: Response | tuple, status: int | Iterable[int], code: str | None = None):
    """resp is an error answer: the status (one of), a JSON body
    {"error":{"code":str,"message":str}} and, when given, that code."""
    st, _, body = resp[0], resp[1], resp[2]
    allowed = {status} if isinstance(status, int) else set(status)
    assert st in allowed, f"status {st}, expected {sorted(allowed)}; body {body!r}"
    assert isinstance(body, dict), f"error body is not a JSON object: {body!r}"
    err = body.get("error")
    assert isinstance(err, dict), f"no 'error' object in {body!r}"
    assert isinstance(err.get("code"), str) and err["code"], f"no error code in {body!r}"
    assert isinstance(err.get("message"), str) and err["message"], f"no error message in {body!r}"
    if code is not None:
        assert err["code"] == code, f"error code {err['code']!r}, expected {code!r}: {body!r}"
    return err


# --------------------------------------------------------------------------
# WebSocket


async def ws_connect(url: str, timeout: float = START_TIMEOUT):
    """An open client connection (websockets 10.4, asyncio)."""
    return await asyncio.wait_for(
        websockets.connect(url, open_timeout=timeout, close_timeout=2, max_size=1 << 22),
        timeout)


@contextlib.asynccontextmanager
async def ws_open(url: str, timeout: float = START_TIMEOUT):
    """`async with ws_open(url) as ws:` an open connection, closed after."""
    ws = await ws_connect(url, timeout)
    try:
        yield ws
    finally:
        try:
            await asyncio.wait_for(ws.close(), 5)
        except (asyncio.TimeoutError, websockets.exceptions.WebSocketException, OSError):
            pass


class WsReader:
    """Reads JSON messages from one connection, keeping what it saw."""

    def __init__(self, ws):
        self.ws = ws
        self.seen: list[dict] = []

    async def next(self, timeout: float = EVENT_TIMEOUT) -> dict:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        msg = json.loads(raw)
        assert isinstance(msg, dict), f"a WebSocket message is not a JSON object: {raw!r}"
        assert isinstance(msg.get("message_type"), str), f"no message_type: {raw!r}"
        self.seen.append(msg)
        return msg

    async def collect(self, pred: Callable[[dict], bool], n: int,
                      timeout: float = EVENT_TIMEOUT, what: str = "messages") -> list[dict]:
        """The next n messages matching pred (others are skipped), or an
        AssertionError when the deadline passes first."""
        got: list[dict] = []
        deadline = time.monotonic() + timeout
        while len(got) < n:
            left = deadline - time.monotonic()
            try:
                if left <= 0:
                    raise asyncio.TimeoutError
                m = await self.next(left)
            except asyncio.TimeoutError:
                raise AssertionError(
                    f"got {len(got)} of {n} {what} within {timeout:.1f} s; "
                    f"last messages seen: {self.recent()}") from None
            if pred(m):
                got.append(m)
        return got

    async def first(self, pred: Callable[[dict], bool], timeout: float = EVENT_TIMEOUT,
                    what: str = "message") -> dict:
        return (await self.collect(pred, 1, timeout, what))[0]

    def recent(self, n: int = 6) -> str:
        return json.dumps(self.seen[-n:])[:3000]


def is_event(msg: dict, message_type: str | None = None, variant: str | None = None) -> bool:
    """A live event (not a notice) of that message_type and variant."""
    if "seq" not in msg or not isinstance(msg.get("data"), dict):
        return False
    if message_type and msg.get("message_type") != message_type:
        return False
    if variant and variant not in msg["data"]:
        return False
    return True


def is_notice(msg: dict, message_type: str) -> bool:
    return msg.get("message_type") == message_type and "seq" not in msg


def load_fixture(family_file: str, variant: str) -> dict:
    """One message of a WebSocket fixture file, by variant."""
    for m in json.loads((FIXTURES / family_file).read_text()):
        if variant in m["data"]:
            return m
    raise KeyError(f"{variant} not in {family_file}")


def assert_fixture_shape(msg: dict, fixture: dict) -> None:
    """msg carries every field of the fixture message, with its name and
    JSON type (numbers: a fixture integer must be an integer; a fixture
    real may be any number), plus the live "seq" and "epoch"."""
    assert msg.get("message_type") == fixture["message_type"], msg
    (variant, ffields), = fixture["data"].items()
    data = msg.get("data")
    assert isinstance(data, dict) and list(data) == [variant], \
        f"data should hold exactly {variant}: {msg}"
    fields = data[variant]
    assert isinstance(fields, dict), msg
    for name, fval in ffields.items():
        assert name in fields, f"{variant}.{name} missing: {msg}"
        v = fields[name]
        if isinstance(fval, bool):
            ok = isinstance(v, bool)
        elif isinstance(fval, int):
            ok = is_int(v)
        elif isinstance(fval, float):
            ok = is_number(v)
        else:
            ok = type(v) is type(fval)
        assert ok, f"{variant}.{name} = {v!r} has the wrong JSON type (fixture: {fval!r}): {msg}"
    assert is_int(msg.get("timestamp")), f"top-level timestamp not an integer: {msg}"
    assert is_int(msg.get("seq")) and msg["seq"] > 0, f"bad seq: {msg}"
    assert is_int(msg.get("epoch")) and msg["epoch"] > 0, f"bad epoch: {msg}"


# --------------------------------------------------------------------------
# one data dir with its stratad and frontend


class StrataEnv:
    """A private data dir (short path under /tmp) with at most one stratad
    and one frontend at a time. close() stops everything and reports what
    went wrong (non-zero exits, forced kills, leftover shm segments)."""

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="st-", dir="/tmp"))
        self.data = self.root / "d"
        self.data.mkdir(mode=0o700)
        self.logs = self.root / "logs"
        self.logs.mkdir()
        self.procs: list[Proc] = []
        self.stratad: Proc | None = None
        self.front: Proc | None = None
        self.port: int | None = None
        self.frames: int | None = None

    # ---- stratad

    def stratad_argv(self, *extra: str, data: str | os.PathLike | None = None,
                     debug_ops: bool = True) -> list[str]:
        return [str(STRATAD), "--data", str(data or self.data),
                "--stats-interval-ms", str(STATS_INTERVAL_MS),
                *(["--enable-debug-ops"] if debug_ops else []), *extra]

    def spawn(self, name: str, argv: list[str]) -> Proc:
        p = Proc(name, argv, self.logs)
        self.procs.append(p)
        return p

    def start_stratad(self, *extra: str, frames: int | None = None,
                      debug_ops: bool = True) -> Proc:
        """Starts stratad and waits until both endpoints are bound (its
        start-up banner names them, after the control server is up)."""
        assert self.stratad is None or not self.stratad.running(), "stratad already running"
        args = list(extra)
        if frames is not None:
            args += ["--frames", str(frames)]
            self.frames = frames
        p = self.spawn("stratad", self.stratad_argv(*args, debug_ops=debug_ops))
        self.stratad = p

        def up():
            if not p.running():
                raise AssertionError(f"stratad exited at start:\n{p.describe()}")
            return "events " in p.stdout()

        wait_for(up, START_TIMEOUT, "stratad's start-up banner")
        return p

    def kill_stratad(self) -> None:
        assert self.stratad is not None
        self.stratad.kill()

    def stop_stratad(self, sig: int = signal.SIGTERM) -> int:
        assert self.stratad is not None
        return self.stratad.stop(sig)

    # ---- frontend

    def start_front(self, *extra: str, wait_ready: bool = True) -> Proc:
        """Starts a frontend on a free loopback port; waits for /readyz 200
        (or only /healthz 200 when not wait_ready)."""
        assert self.front is None or not self.front.running(), "frontend already running"
        for attempt in range(3):
            self.port = free_port()
            p = self.spawn("front", [str(FRONT), "--data", str(self.data),
                                     "--listen", f"127.0.0.1:{self.port}", *extra])
            self.front = p
            try:
                self._wait_http(p, "/readyz" if wait_ready else "/healthz")
                return p
            except _PortTaken:
                continue  # another process took the port between probe and bind
        raise AssertionError(f"frontend could not bind a port:\n{p.describe()}")

    def _wait_http(self, p: Proc, path: str) -> None:
        def ok():
            if not p.running():
                if "cannot listen" in p.stderr():
                    raise _PortTaken()
                raise AssertionError(f"frontend exited at start:\n{p.describe()}")
            try:
                return self.get(path, timeout=2).status == 200
            except (OSError, urllib.error.URLError):
                return False

        wait_for(ok, START_TIMEOUT, f"frontend {path} 200", interval=0.05)

    def start(self, *stratad_args: str, frames: int | None = None) -> "StrataEnv":
        self.start_stratad(*stratad_args, frames=frames)
        self.start_front()
        return self

    # ---- clients

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def ws_url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def get(self, path: str, **kw) -> Response:
        return http("GET", self.url(path), **kw)

    def request(self, method: str, path: str, body: Any = None, **kw) -> Response:
        return http(method, self.url(path), body, **kw)

    def status(self) -> dict:
        r = self.get("/api/v1/storage/status")
        assert r.status == 200, f"status: {r}"
        return r.body

    def wait_readyz(self, want: int, timeout: float = START_TIMEOUT) -> Response:
        last: list[Response] = []

        def check():
            try:
                r = self.get("/readyz", timeout=2)
            except (OSError, urllib.error.URLError):
                return None
            last[:] = [r]
            return r if r.status == want else None

        try:
            return wait_for(check, timeout, f"/readyz {want}", interval=0.05)
        except TimeoutError as e:
            raise AssertionError(f"{e}; last answer {last}") from None

    # The CLI runs without LeakSanitizer here, so that a leak in it (found
    # by test_cli.py::test_cli_does_not_leak, which turns it back on) does
    # not turn every CLI call of every test into a failure. Every other
    # sanitizer check stays on.

    def cli(self, *args: str, data: str | os.PathLike | None = None,
            timeout: float = CLI_TIMEOUT, detect_leaks: bool = False
            ) -> subprocess.CompletedProcess:
        """Runs `strata --data DIR ARGS...` to completion (bounded)."""
        argv = [str(CLI), "--data", str(data or self.data), *args]
        return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout, cwd=self.logs, env=sanitizer_env(detect_leaks))

    def cli_popen(self, *args: str) -> subprocess.Popen:
        argv = [str(CLI), "--data", str(self.data), *args]
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=self.logs,
                                env=sanitizer_env(False))

    # ---- state checks

    def shm_segments(self) -> list[Path]:
        return shm_segments_of(self.data)

    def sockets(self) -> list[Path]:
        return [self.data / "ctl.sock", self.data / "events.sock"]

    def describe(self) -> str:
        return "\n".join(p.describe() for p in self.procs)

    # ---- teardown

    def close(self) -> list[str]:
        """Stops the frontend then stratad (SIGTERM; SIGKILL if stuck), and
        returns the problems found: a non-zero exit after SIGTERM (a
        sanitizer report makes it non-zero), a forced kill, shm segments of
        this data dir left behind. Removes the temp dir."""
        problems: list[str] = []
        for p, what in ((self.front, "strata-front"), (self.stratad, "stratad")):
            if p is None or not p.running():
                continue
            rc = p.stop(signal.SIGTERM)
            if p.forced_kill:
                problems.append(f"{what} (pid {p.pid}) ignored SIGTERM for {STOP_TIMEOUT} s")
            elif rc != 0:
                problems.append(f"{what} (pid {p.pid}) exited {rc} after SIGTERM")
        for p in self.procs:  # e.g. a second stratad that should have exited
            if p.running():
                problems.append(f"{p.name} (pid {p.pid}) was still running at teardown")
                p.stop(signal.SIGTERM)
        stratad_clean = self.stratad is not None and not self.stratad.forced_kill \
            and self.stratad.returncode == 0
        if stratad_clean:
            left = [str(s) for s in self.shm_segments() if s.exists()]
            if left:
                problems.append(f"shm segments left after a clean stop: {left}")
        # Sanitizer reports from any process of this env (also ones that
        # were expected to exit non-zero, e.g. a refused second stratad).
        for p in self.procs:
            err = p.stderr()
            if re.search(r"ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:", err):
                problems.append(f"sanitizer report from {p.name} pid {p.pid}")
        if problems:
            self.last_logs = self.describe()
        # Kill-9'd stratads may leave segments: never leave them in /dev/shm.
        for s in self.shm_segments():
            if s.exists() and not (self.stratad and self.stratad.running()):
                s.unlink(missing_ok=True)
        shutil.rmtree(self.root, ignore_errors=True)
        return problems


class _PortTaken(Exception):
    pass
