/*
 * Strata GraphQL explorer (served by strata-front at GET /graphql to a
 * browser, with this script at /graphql/explorer.js).
 *
 *   Run (Ctrl/Cmd+Enter)  POST /graphql {"query", "variables",
 *                         "operationName"}; the JSON answer, errors
 *                         included, is shown pretty-printed.
 *   subscriptions         an operation of type subscription runs over a
 *                         WebSocket to /graphql with the
 *                         graphql-transport-ws subprotocol:
 *                         connection_init {"token"} -> connection_ack ->
 *                         subscribe; each next payload is appended; Stop
 *                         sends complete and closes.
 *   schema                loaded by an introspection query: the root fields
 *                         of Query, Mutation and Subscription (a click puts
 *                         a skeleton in the editor) and every type with its
 *                         fields and argument types.
 *   token                 sent as "Authorization: Bearer" (and in
 *                         connection_init); kept in sessionStorage under
 *                         the dashboard's key, so both pages share it.
 *
 * Everything goes through init(env) with env = {document, fetch, WebSocket,
 * storage, base}, so tests/explorer/ runs this file under Node with
 * a minimal fake DOM against a live frontend. The page has no inline code
 * (lws sends a CSP allowing same-origin scripts and styles only).
 */
(function (root) {
	'use strict';

	var TOKEN_KEY = 'strata-token';
	var QUERY_KEY = 'strata-graphql-query';
	var VARS_KEY = 'strata-graphql-variables';
	var OPNAME_KEY = 'strata-graphql-opname';
	var KEEP_EVENTS = 200; /* subscription events kept in the result pane */

	var EXAMPLE_QUERY = [
		'# Strata GraphQL explorer. Ctrl+Enter (Cmd+Enter) runs the operation;',
		'# a click on a root field in the schema panel writes a skeleton here.',
		'# A subscription runs over WebSocket until Stop, for example:',
		'#   subscription { bufferPoolMetrics(intervalSeconds: 1) { usedPages hitRate timestamp } }',
		'query Status {',
		'  status { version uptimeSeconds pageSize frameCount }',
		'  bufferPool { totalPages usedPages freePages dirtyPages hitRate evictions }',
		'  ioStats { reads writes }',
		'}',
		''
	].join('\n');

	var TYPE_REF = 'kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } }';
	var INTROSPECTION_QUERY =
		'query ExplorerSchema { __schema { queryType { name } mutationType { name } subscriptionType { name } ' +
		'types { kind name description ' +
		'fields(includeDeprecated: true) { name args { name type { ' + TYPE_REF + ' } } type { ' + TYPE_REF + ' } } ' +
		'inputFields { name type { ' + TYPE_REF + ' } } enumValues(includeDeprecated: true) { name } } } }';

	/* ---- pure helpers (no DOM) ---- */

	/* The source with comments, strings and block strings blanked out, so
	 * that keywords and braces can be found by a plain scan. */
	function stripNoise(src) {
		var out = '';
		var i = 0;
		while (i < src.length) {
			var c = src[i];
			if (c === '#') {
				while (i < src.length && src[i] !== '\n' && src[i] !== '\r')
					i++;
			} else if (src.substr(i, 3) === '"""') {
				var end = src.indexOf('"""', i + 3);
				i = end < 0 ? src.length : end + 3;
				out += ' "" ';
			} else if (c === '"') {
				i++;
				while (i < src.length && src[i] !== '"' && src[i] !== '\n') {
					if (src[i] === '\\')
						i++;
					i++;
				}
				i++;
				out += ' "" ';
			} else {
				out += c;
				i++;
			}
		}
		return out;
	}

	/*
	 * The operations of a document, in order: [{type, name}] where type is
	 * 'query', 'mutation' or 'subscription' and name may be null (a bare
	 * selection set is an anonymous query). Fragments are skipped.
	 */
	function operations(src) {
		var s = stripNoise(String(src || ''));
		var ops = [];
		var depth = 0;
		var re = /[{}()]|[_A-Za-z][_0-9A-Za-z]*/g;
		var pending = null; /* a definition keyword seen at depth 0 */
		var m;
		while ((m = re.exec(s)) !== null) {
			var t = m[0];
			if (t === '{' || t === '(') {
				if (depth === 0 && t === '{') {
					if (!pending)
						ops.push({ type: 'query', name: null });
					else if (pending.type !== 'fragment')
						ops.push({ type: pending.type, name: pending.name });
					pending = null;
				}
				depth++;
			} else if (t === '}' || t === ')') {
				depth = Math.max(0, depth - 1);
			} else if (depth === 0) {
				if (!pending && (t === 'query' || t === 'mutation' || t === 'subscription' || t === 'fragment'))
					pending = { type: t, name: null, named: false };
				else if (pending && !pending.named) {
					pending.name = t;
					pending.named = true;
				}
			}
		}
		return ops;
	}

	/* The type of the operation that would run: the one named opName, else
	 * the first. 'query' when nothing is found (the server will say why). */
	function operationType(src, opName) {
		var ops = operations(src);
		for (var i = 0; i < ops.length && opName; i++)
			if (ops[i].name === opName)
				return ops[i].type;
		return ops.length ? ops[0].type : 'query';
	}

	/* {value} (an object, or null when the editor is blank) or {error}. */
	function parseVariables(text) {
		var t = String(text || '').trim();
		if (!t)
			return { value: null };
		var v;
		try {
			v = JSON.parse(t);
		} catch (e) {
			return { error: 'Variables are not valid JSON: ' + e.message };
		}
		if (v === null || typeof v !== 'object' || Array.isArray(v))
			return { error: 'Variables must be a JSON object, like {"name": "value"}' };
		return { value: v };
	}

	/* A type reference as GraphQL writes it: [Foo!]! */
	function typeName(t) {
		if (!t)
			return '?';
		if (t.kind === 'NON_NULL')
			return typeName(t.ofType) + '!';
		if (t.kind === 'LIST')
			return '[' + typeName(t.ofType) + ']';
		return t.name;
	}

	function namedType(t) {
		while (t && t.ofType)
			t = t.ofType;
		return t ? t.name : null;
	}

	function fieldSignature(f) {
		var args = (f.args || []).map(function (a) { return a.name + ': ' + typeName(a.type); });
		return f.name + (args.length ? '(' + args.join(', ') + ')' : '') + ': ' + typeName(f.type);
	}

	/*
	 * The introspection answer's __schema, summarised:
	 * {roots: [{kind: 'query', type: 'Query', fields: [...]}...],
	 *  types: [{name, kind, lines: ['field(arg: T): R', ...]}], byName}
	 */
	function summarizeSchema(schema) {
		var byName = {};
		(schema.types || []).forEach(function (t) { byName[t.name] = t; });
		var roots = [];
		[['query', schema.queryType], ['mutation', schema.mutationType],
			['subscription', schema.subscriptionType]].forEach(function (r) {
			var t = r[1] && byName[r[1].name];
			if (t)
				roots.push({ kind: r[0], type: t.name, fields: t.fields || [] });
		});
		var types = (schema.types || []).filter(function (t) {
			return t.name && t.name.slice(0, 2) !== '__';
		}).map(function (t) {
			var lines = [];
			(t.fields || []).forEach(function (f) { lines.push(fieldSignature(f)); });
			(t.inputFields || []).forEach(function (f) { lines.push(f.name + ': ' + typeName(f.type)); });
			(t.enumValues || []).forEach(function (v) { lines.push(v.name); });
			return { name: t.name, kind: t.kind, lines: lines };
		}).sort(function (a, b) { return a.name < b.name ? -1 : a.name > b.name ? 1 : 0; });
		return { roots: roots, types: types, byName: byName };
	}

	/* An operation for one root field: its required arguments as
	 * variables, and the scalar fields of what it returns. */
	function skeleton(kind, field, byName) {
		var args = (field.args || []).filter(function (a) { return a.type && a.type.kind === 'NON_NULL'; });
		var head = kind + (args.length ? '(' + args.map(function (a) {
			return '$' + a.name + ': ' + typeName(a.type);
		}).join(', ') + ')' : '');
		var call = field.name + (args.length ? '(' + args.map(function (a) {
			return a.name + ': $' + a.name;
		}).join(', ') + ')' : '');
		var ret = byName[namedType(field.type)];
		var sel = '';
		if (ret && (ret.kind === 'OBJECT' || ret.kind === 'INTERFACE')) {
			var leaves = (ret.fields || []).filter(function (f) {
				var n = byName[namedType(f.type)];
				return n && (n.kind === 'SCALAR' || n.kind === 'ENUM') &&
					!(f.args || []).some(function (a) { return a.type.kind === 'NON_NULL'; });
			}).map(function (f) { return '    ' + f.name; });
			sel = ' {\n' + (leaves.length ? leaves.join('\n') : '    __typename') + '\n  }';
		}
		return head + ' {\n  ' + call + sel + '\n}\n';
	}

	function wsUrl(base) {
		return String(base).replace(/^http/, 'ws') + '/graphql';
	}

	function pretty(v) {
		return JSON.stringify(v, null, 2);
	}

	/* ---- the explorer: state and DOM ---- */

	function Explorer(env) {
		var doc = env.document;
		this.env = env;
		this.base = env.base || '';
		this.doc = doc;
		this.el = {};
		var ids = ['token', 'opname', 'query', 'variables', 'run', 'stop', 'status', 'result',
			'schema', 'schema-reload', 'schema-filter', 'schema-status'];
		for (var i = 0; i < ids.length; i++)
			this.el[ids[i]] = doc.getElementById(ids[i]);
		this.seq = 0;       /* the latest HTTP run; older answers are dropped */
		this.sub = null;    /* the running subscription */
		this.opSeq = 0;
		this.schema = null;
		this.events = [];
	}

	Explorer.prototype.store = function (key, value) {
		try {
			if (this.env.storage)
				this.env.storage.setItem(key, value);
		} catch (e) { /* storage disabled */ }
	};

	Explorer.prototype.load = function (key) {
		try {
			return this.env.storage ? this.env.storage.getItem(key) : null;
		} catch (e) {
			return null;
		}
	};

	Explorer.prototype.token = function () {
		return String(this.el.token.value || '').trim();
	};

	Explorer.prototype.headers = function () {
		var h = { 'Content-Type': 'application/json', Accept: 'application/json' };
		var t = this.token();
		if (t)
			h.Authorization = 'Bearer ' + t;
		return h;
	};

	Explorer.prototype.setStatus = function (text, kind) {
		this.el.status.textContent = text;
		this.el.status.className = 'status' + (kind ? ' ' + kind : '');
	};

	Explorer.prototype.show = function (text, kind) {
		this.el.result.textContent = text;
		this.el.result.className = 'result' + (kind === 'bad' ? ' bad' : '');
	};

	Explorer.prototype.running = function (on) {
		this.el.stop.disabled = !on;
	};

	/* POSTs a GraphQL request; resolves to {status, json} or {status, text}. */
	Explorer.prototype.post = function (body) {
		return this.env.fetch(this.base + '/graphql', {
			method: 'POST', headers: this.headers(), body: JSON.stringify(body)
		}).then(function (r) {
			return r.text().then(function (text) {
				var json;
				try {
					json = JSON.parse(text);
				} catch (e) {
					return { status: r.status, text: text };
				}
				return { status: r.status, json: json };
			});
		});
	};

	/* Runs the editors' operation. Resolves once the answer is shown (for a
	 * subscription: once the socket is opened; events follow). */
	Explorer.prototype.run = function () {
		var self = this;
		var query = String(this.el.query.value || '');
		var opName = String(this.el.opname.value || '').trim() || null;
		var vars = parseVariables(this.el.variables.value);
		this.store(QUERY_KEY, query);
		this.store(VARS_KEY, String(this.el.variables.value || ''));
		this.store(OPNAME_KEY, opName || '');
		if (vars.error) {
			this.setStatus('variables: not sent', 'bad');
			this.show(vars.error, 'bad');
			return Promise.resolve(false);
		}
		this.stop();
		if (operationType(query, opName) === 'subscription')
			return Promise.resolve(this.subscribe(query, vars.value, opName));
		var body = { query: query };
		if (vars.value)
			body.variables = vars.value;
		if (opName)
			body.operationName = opName;
		var seq = ++this.seq;
		this.setStatus('running…');
		return this.post(body).then(function (res) {
			if (seq !== self.seq)
				return false;
			var errs = res.json && Array.isArray(res.json.errors) ? res.json.errors.length : 0;
			self.setStatus('HTTP ' + res.status + (errs ? ', ' + errs + (errs === 1 ? ' error' : ' errors') : ''),
				res.status === 200 && !errs ? 'ok' : 'bad');
			self.show(res.json !== undefined ? pretty(res.json) : res.text,
				res.json !== undefined && res.status === 200 && !errs ? '' : 'bad');
			return true;
		}, function (err) {
			if (seq !== self.seq)
				return false;
			self.setStatus('request failed', 'bad');
			self.show('The request failed: ' + (err && err.message ? err.message : String(err)), 'bad');
			return false;
		});
	};

	Explorer.prototype.appendEvent = function (text) {
		this.events.push(text);
		if (this.events.length > KEEP_EVENTS)
			this.events.splice(0, this.events.length - KEEP_EVENTS);
		this.show(this.events.join('\n'));
	};

	/* A subscription over graphql-transport-ws; true when the socket was created. */
	Explorer.prototype.subscribe = function (query, variables, opName) {
		var self = this;
		var url = wsUrl(this.base);
		var ws;
		try {
			ws = new this.env.WebSocket(url, 'graphql-transport-ws');
		} catch (e) {
			this.setStatus('no WebSocket', 'bad');
			this.show('Cannot open ' + url + ': ' + (e && e.message ? e.message : String(e)), 'bad');
			return false;
		}
		var sub = { ws: ws, id: String(++this.opSeq), count: 0, stopped: false, ended: false };
		var token = this.token();
		var payload = { query: query };
		if (variables)
			payload.variables = variables;
		if (opName)
			payload.operationName = opName;
		this.sub = sub;
		this.events = [];
		this.show('');
		this.setStatus('connecting to ' + url + '…');
		this.running(true);
		function send(msg) {
			try {
				ws.send(JSON.stringify(msg));
			} catch (e) { /* closing: onclose reports it */ }
		}
		function end(text, kind) {
			sub.ended = true;
			if (self.sub === sub) {
				self.sub = null;
				self.running(false);
				self.setStatus(text, kind);
			}
			try {
				ws.close(1000);
			} catch (e) { /* already closed */ }
		}
		ws.onopen = function () {
			send({ type: 'connection_init', payload: token ? { token: token } : {} });
		};
		ws.onmessage = function (ev) {
			if (self.sub !== sub)
				return;
			var msg;
			try {
				msg = JSON.parse(typeof ev.data === 'string' ? ev.data : String(ev.data));
			} catch (e) {
				return;
			}
			if (!msg || typeof msg !== 'object')
				return;
			if (msg.type === 'connection_ack') {
				send({ id: sub.id, type: 'subscribe', payload: payload });
				self.setStatus('subscribed: waiting for events', 'ok');
			} else if (msg.type === 'next' && msg.id === sub.id) {
				sub.count++;
				self.appendEvent('// event ' + sub.count + '\n' + pretty(msg.payload));
				self.setStatus(sub.count + (sub.count === 1 ? ' event' : ' events'), 'ok');
			} else if (msg.type === 'error' && msg.id === sub.id) {
				self.appendEvent(pretty({ errors: msg.payload }));
				self.el.result.className = 'result bad';
				end('subscription refused', 'bad');
			} else if (msg.type === 'complete' && msg.id === sub.id) {
				end('complete after ' + sub.count + (sub.count === 1 ? ' event' : ' events'), 'ok');
			} else if (msg.type === 'ping') {
				send({ type: 'pong' });
			}
		};
		ws.onerror = function () { /* onclose follows with the code */ };
		ws.onclose = function (ev) {
			if (sub.stopped || sub.ended)
				return;
			var why = 'connection closed' + (ev && ev.code ? ': ' + ev.code : '') +
				(ev && ev.reason ? ' ' + ev.reason : '');
			if (ev && ev.code === 4403)
				why += ' (the token is missing or not valid)';
			self.appendEvent('// ' + why);
			sub.ended = true;
			if (self.sub === sub) {
				self.sub = null;
				self.running(false);
				self.setStatus(why, 'bad');
			}
		};
		return true;
	};

	/* Ends the running subscription: complete, then close. */
	Explorer.prototype.stop = function () {
		var sub = this.sub;
		if (!sub)
			return false;
		sub.stopped = true;
		this.sub = null;
		this.running(false);
		try {
			if (sub.ws.readyState === 1)
				sub.ws.send(JSON.stringify({ id: sub.id, type: 'complete' }));
			sub.ws.close(1000);
		} catch (e) { /* already closed */ }
		this.setStatus('stopped after ' + sub.count + (sub.count === 1 ? ' event' : ' events'));
		return true;
	};

	/* ---- schema panel ---- */

	Explorer.prototype.loadSchema = function () {
		var self = this;
		this.el['schema-status'].textContent = 'loading…';
		this.el['schema-status'].className = 'status';
		return this.post({ query: INTROSPECTION_QUERY, operationName: 'ExplorerSchema' }).then(function (res) {
			var s = res.json && res.json.data && res.json.data.__schema;
			if (!s) {
				var why = res.json && res.json.errors && res.json.errors[0] ? res.json.errors[0].message
					: res.text || ('HTTP ' + res.status);
				self.el['schema-status'].textContent = 'cannot load the schema: HTTP ' + res.status + ': ' + why;
				self.el['schema-status'].className = 'status bad';
				return false;
			}
			self.schema = summarizeSchema(s);
			self.el['schema-status'].textContent = self.schema.types.length + ' types';
			self.el['schema-status'].className = 'status';
			self.renderSchema();
			return true;
		}, function (err) {
			self.el['schema-status'].textContent = 'cannot load the schema: ' + (err && err.message ? err.message : String(err));
			self.el['schema-status'].className = 'status bad';
			return false;
		});
	};

	Explorer.prototype.renderSchema = function () {
		var self = this;
		var doc = this.doc;
		var box = this.el.schema;
		var sch = this.schema;
		if (!sch)
			return;
		var filter = String(this.el['schema-filter'].value || '').trim().toLowerCase();
		function matches(text) {
			return !filter || text.toLowerCase().indexOf(filter) >= 0;
		}
		function node(tag, text, cls) {
			var e = doc.createElement(tag);
			if (text !== undefined)
				e.textContent = text;
			if (cls)
				e.className = cls;
			return e;
		}
		box.textContent = '';
		sch.roots.forEach(function (r) {
			var fields = r.fields.filter(function (f) { return matches(fieldSignature(f)); });
			if (!fields.length)
				return;
			box.appendChild(node('h3', r.kind + ' (' + r.type + ')'));
			var ul = node('ul');
			fields.forEach(function (f) {
				var li = node('li', fieldSignature(f), 'root');
				li.title = 'write a ' + r.kind + ' for ' + f.name + ' in the editor';
				li.addEventListener('click', function () { self.insertSkeleton(r.kind, f); });
				ul.appendChild(li);
			});
			box.appendChild(ul);
		});
		box.appendChild(node('h3', 'types'));
		sch.types.forEach(function (t) {
			var lines = t.lines.filter(matches);
			if (!matches(t.name) && !lines.length)
				return;
			var d = node('details');
			var sum = node('summary');
			sum.appendChild(node('span', t.name, 'type'));
			sum.appendChild(node('span', ' ' + t.kind.toLowerCase(), 'kind'));
			d.appendChild(sum);
			var ul = node('ul');
			(matches(t.name) ? t.lines : lines).forEach(function (l) { ul.appendChild(node('li', l)); });
			d.appendChild(ul);
			box.appendChild(d);
		});
	};

	Explorer.prototype.insertSkeleton = function (kind, field) {
		this.el.query.value = skeleton(kind, field, this.schema ? this.schema.byName : {});
		this.el.opname.value = '';
		if (this.el.query.focus)
			this.el.query.focus();
	};

	/* Wires the page: editors filled from sessionStorage (the example on
	 * first open), Run / Stop / Ctrl+Enter, token saving, the schema. */
	function init(env) {
		var ex = new Explorer(env);
		var el = ex.el;
		var saved = ex.load(QUERY_KEY);
		el.query.value = saved !== null && saved.trim() ? saved : EXAMPLE_QUERY;
		el.variables.value = ex.load(VARS_KEY) || '';
		el.opname.value = ex.load(OPNAME_KEY) || '';
		el.token.value = ex.load(TOKEN_KEY) || '';
		el.stop.disabled = true;
		function runKey(e) {
			if ((e.ctrlKey || e.metaKey) && e.key === 'Enter') {
				if (e.preventDefault)
					e.preventDefault();
				ex.run();
			}
		}
		[el.query, el.variables, el.opname].forEach(function (e) { e.addEventListener('keydown', runKey); });
		el.run.addEventListener('click', function () { ex.run(); });
		el.stop.addEventListener('click', function () { ex.stop(); });
		el.token.addEventListener('change', function () {
			ex.store(TOKEN_KEY, ex.token());
			if (!ex.schema)
				ex.loadSchema();
		});
		el.token.addEventListener('input', function () { ex.store(TOKEN_KEY, ex.token()); });
		el['schema-reload'].addEventListener('click', function () { ex.loadSchema(); });
		el['schema-filter'].addEventListener('input', function () { ex.renderSchema(); });
		ex.schemaLoaded = ex.loadSchema();
		return ex;
	}

	var api = {
		init: init, Explorer: Explorer, operations: operations, operationType: operationType,
		parseVariables: parseVariables, typeName: typeName, summarizeSchema: summarizeSchema,
		skeleton: skeleton, wsUrl: wsUrl, EXAMPLE_QUERY: EXAMPLE_QUERY,
		INTROSPECTION_QUERY: INTROSPECTION_QUERY, TOKEN_KEY: TOKEN_KEY
	};
	if (typeof module !== 'undefined' && module.exports) {
		module.exports = api;
		return; /* loaded as a module (tests): the caller runs init */
	}
	root.StrataExplorer = api;
	if (typeof document !== 'undefined' && typeof location !== 'undefined')
		root.strataExplorer = init({
			document: document, base: location.origin,
			fetch: function (u, o) { return fetch(u, o); },
			WebSocket: WebSocket,
			storage: (function () {
				try {
					return sessionStorage;
				} catch (e) {
					return null; /* storage disabled */
				}
			})()
		});
})(typeof window !== 'undefined' ? window : globalThis);
