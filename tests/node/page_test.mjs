// Shared by the Node tests that run a served page's script against a live
// frontend (tests/dashboard, tests/explorer): the browser-like WebSocket,
// a bounded wait, and REST calls with the test's token.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

// Node >= 22's global WebSocket, else tests/graphql's ws package; exits 77
// (skip) when there is neither.
export function webSocketClass() {
  if (globalThis.WebSocket) return globalThis.WebSocket;
  try {
    return require('../graphql/node_modules/ws');
  } catch {
    console.log('SKIP: no WebSocket client (Node >= 22, --experimental-websocket, or npm ws)');
    process.exit(77);
  }
}

// pred's first truthy value, polled every 20 ms for at most ms.
export async function until(pred, what, ms = 15000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = pred();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// rest(method, path, body) against base with the token's Authorization
// header; asserts a 2xx and answers the parsed JSON.
export function restClient(base, token) {
  const auth = token ? { Authorization: `Bearer ${token}` } : {};
  return async function rest(method, path, body) {
    const r = await fetch(base + path, {
      method, headers: { ...auth, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${text}`);
    return JSON.parse(text);
  };
}
