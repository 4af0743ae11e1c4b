/*
 * Strata live dashboard (served by strata-front at /dashboard).
 *
 * One WebSocket to /api/v1/ws/storage (every event family). The state
 * below is fed only by handleMessage(), which knows the stream's messages:
 *   events      {"message_type":"buffer_pool_event","data":{"PoolStats":{...}},
 *                "seq":N,"epoch":E,...}  (seq per family, gap-free per epoch)
 *   connection  {"data":{"stratad":"up"|"down"}}  stratad went away / came back
 *   gap         {"data":{"family","from_seq","to_seq","epoch","reason"}}
 *               events lost for good ("gone") or a new epoch ("epoch_changed")
 *   epoch       {"data":{"family","old_epoch","epoch"}}  stratad restarted
 *   lagged      {"data":{"dropped":N}}  this page was too slow; N dropped
 *   subscribed, error
 * On a lost connection the page reconnects (backoff 0.5 s .. 10 s) with
 * ?resume_from=family:seq,...&epoch=E, so the frontend replays what was
 * missed and nothing is counted twice.
 *
 * Tokens: a browser cannot set headers on a WebSocket, and a token in a URL
 * ends up in proxy logs and browser history. So before each (re)connect the
 * page asks POST /api/v1/ws/ticket (with "Authorization: Bearer TOKEN") for
 * a short-lived, single-use ticket and opens the stream with ?ticket=; the
 * token itself never goes into a URL. A 404 there means the frontend has no
 * token file (streams need nothing). REST calls send "Authorization:
 * Bearer". The token is kept in sessionStorage (this tab only).
 *
 * The part above the DOM code runs under Node too (tests/dashboard/).
 */
(function (root) {
	'use strict';

	var FAMILY_OF = {
		buffer_pool_event: 'buffer-pool', lsm_event: 'lsm', disk_io_event: 'io',
		tier_event: 'tiers', page_event: 'pages', columnar_event: 'columnar'
	};
	var FAMILIES = ['buffer-pool', 'lsm', 'io', 'tiers', 'pages', 'columnar'];
	var RATE_WINDOW_MS = 5000;
	var KEEP = { recent: 60, lsm: 30, tiers: 30, notices: 30 };
	var WS_PATH = '/api/v1/ws/storage';
	var TICKET_PATH = '/api/v1/ws/ticket';

	function createState() {
		var fam = {};
		FAMILIES.forEach(function (f) {
			fam[f] = { total: 0, times: [], lastSeq: null, lastVariant: null };
		});
		return {
			families: fam, epoch: null,
			pool: null, io: null, tiers: null,
			lsm: [], tierMoves: [], recent: [], notices: [],
			conn: { state: 'idle', stratad: 'unknown', opens: 0, closes: 0, lastClose: null,
				ticketErrors: 0 },
			duplicates: 0, gaps: 0, lagged: 0, dropped: 0, errors: 0
		};
	}

	function push(list, item, max) {
		list.unshift(item);
		if (list.length > max)
			list.length = max;
	}

	function notice(st, now, kind, text) {
		push(st.notices, { at: now, kind: kind, text: text }, KEEP.notices);
	}

	/* A new epoch: stratad restarted and every family's seqs start over. */
	function newEpoch(st, epoch) {
		st.epoch = epoch;
		FAMILIES.forEach(function (f) { st.families[f].lastSeq = null; });
	}

	function summary(variant, d) {
		var keys = Object.keys(d || {}).filter(function (k) { return k !== 'timestamp'; });
		return variant + ' ' + keys.map(function (k) {
			var v = d[k];
			return k + '=' + (typeof v === 'object' ? JSON.stringify(v) : v);
		}).join(' ');
	}

	/* Applies one parsed message to st; now is a time in ms. Returns the
	 * family an event was counted for, or null. */
	function handleMessage(st, msg, now) {
		if (!msg || typeof msg !== 'object')
			return null;
		var d = msg.data || {};
		switch (msg.message_type) {
		case 'connection':
			st.conn.stratad = d.stratad === 'up' ? 'up' : 'down';
			notice(st, now, 'connection', 'stratad is ' + st.conn.stratad);
			return null;
		case 'gap':
			st.gaps++;
			if (d.reason === 'epoch_changed' && d.epoch !== undefined && d.epoch !== st.epoch)
				newEpoch(st, d.epoch);
			notice(st, now, 'gap', d.family + ': ' + (d.reason || 'gap') +
			       (d.from_seq !== undefined ? ' seq ' + d.from_seq +
				(d.to_seq ? '..' + d.to_seq : '..') : ''));
			return null;
		case 'epoch':
			if (d.epoch !== undefined && d.epoch !== st.epoch)
				newEpoch(st, d.epoch);
			notice(st, now, 'epoch', 'stratad restarted (epoch ' + d.epoch + ')');
			return null;
		case 'lagged':
			st.lagged++;
			st.dropped += Number(d.dropped) || 0;
			notice(st, now, 'lagged', 'too slow: ' + d.dropped + ' messages dropped');
			return null;
		case 'error':
			st.errors++;
			notice(st, now, 'error', (d.code || 'error') + ': ' + (d.message || ''));
			return null;
		case 'subscribed':
			return null;
		}
		var family = FAMILY_OF[msg.message_type];
		if (!family)
			return null;
		var variant = Object.keys(d)[0];
		if (!variant)
			return null;
		var ev = d[variant] || {};
		var f = st.families[family];
		if (typeof msg.seq === 'number') {
			if (msg.epoch !== undefined && msg.epoch !== st.epoch) {
				if (st.epoch !== null)
					notice(st, now, 'epoch', 'new epoch ' + msg.epoch);
				newEpoch(st, msg.epoch);
			}
			if (f.lastSeq !== null && msg.seq <= f.lastSeq) {
				st.duplicates++; /* a replay overlapping what we had */
				return null;
			}
			f.lastSeq = msg.seq;
		}
		f.total++;
		f.lastVariant = variant;
		f.times.push(now);
		while (f.times.length && f.times[0] < now - RATE_WINDOW_MS)
			f.times.shift();
		var rec = { at: now, family: family, variant: variant, seq: msg.seq, data: ev };
		if (variant === 'PoolStats')
			st.pool = rec;
		else if (variant === 'IoStats')
			st.io = rec;
		else if (variant === 'TierStats')
			st.tiers = rec;
		else
			push(st.recent, rec, KEEP.recent);
		if (family === 'lsm')
			push(st.lsm, rec, KEEP.lsm);
		if (family === 'tiers' && variant !== 'TierStats')
			push(st.tierMoves, rec, KEEP.tiers);
		return family;
	}

	/* events/s of a family over the last RATE_WINDOW_MS. */
	function rate(st, family, now) {
		var t = st.families[family].times;
		var n = 0;
		for (var i = t.length - 1; i >= 0 && t[i] >= now - RATE_WINDOW_MS; i--)
			n++;
		return n / (RATE_WINDOW_MS / 1000);
	}

	/* The query that resumes after what st has seen ("" when nothing). */
	function resumeQuery(st) {
		var parts = [];
		FAMILIES.forEach(function (f) {
			if (st.families[f].lastSeq !== null)
				parts.push(f + ':' + st.families[f].lastSeq);
		});
		if (!parts.length || st.epoch === null)
			return '';
		return 'resume_from=' + parts.join(',') + '&epoch=' + st.epoch;
	}

	/* The stream's URL: a ticket (never the token) and where to resume. */
	function wsUrl(wsBase, st, ticket) {
		var q = [];
		if (ticket)
			q.push('ticket=' + encodeURIComponent(ticket));
		var r = resumeQuery(st);
		if (r)
			q.push(r);
		return wsBase + WS_PATH + (q.length ? '?' + q.join('&') : '');
	}

	/*
	 * A ticket for one stream: resolves to the ticket, or to null when the
	 * frontend has no token file (404: nothing to mint, nothing needed);
	 * rejects with an Error saying what went wrong.
	 */
	function fetchTicket(o) {
		return o.fetch((o.httpBase || '') + TICKET_PATH, {
			method: 'POST', body: '{}',
			headers: { Authorization: 'Bearer ' + o.token, 'Content-Type': 'application/json' }
		}).then(function (r) {
			if (r.status === 404)
				return null;
			return r.json().then(function (b) {
				if (r.ok && b && typeof b.ticket === 'string')
					return b.ticket;
				var e = (b && b.error) || {};
				throw new Error('ticket refused (HTTP ' + r.status + (e.message ? ': ' + e.message : '') + ')');
			}, function () {
				throw new Error('ticket refused (HTTP ' + r.status + ')');
			});
		});
	}

	/*
	 * The connection: opts.wsBase ("ws://host:port"), opts.WebSocket (the
	 * constructor), opts.token, opts.fetch (for tickets) and opts.httpBase
	 * ("" in a page: same origin), opts.onChange() after every change,
	 * opts.now() (ms), opts.setTimeout / clearTimeout.
	 *
	 * connect: no token -> open the stream; a token -> fetch a ticket, then
	 * open the stream with it (a failed fetch counts as a refused connection
	 * and retries with the same backoff). attempt numbers each connect, so
	 * a ticket that arrives after a newer connect, reconnect or stop is
	 * dropped.
	 */
	function Dashboard(opts) {
		this.opts = opts;
		this.st = createState();
		this.ws = null;
		this.timer = null;
		this.backoff = 500;
		this.stopped = false;
		this.lastUrl = null;
		this.attempt = 0;
	}

	Dashboard.prototype.changed = function () {
		if (this.opts.onChange)
			this.opts.onChange(this.st);
	};

	Dashboard.prototype.retryLater = function () {
		var self = this;
		this.timer = this.opts.setTimeout(function () {
			self.timer = null;
			self.connect();
		}, this.backoff);
		this.backoff = Math.min(this.backoff * 2, 10000);
	};

	Dashboard.prototype.connect = function () {
		var self = this, st = this.st, o = this.opts;
		if (this.timer !== null) {
			o.clearTimeout(this.timer);
			this.timer = null;
		}
		var attempt = ++this.attempt;
		st.conn.state = 'connecting';
		if (!o.token) {
			this.open(null);
			return;
		}
		this.changed();
		fetchTicket(o).then(function (ticket) {
			if (attempt === self.attempt && !self.stopped)
				self.open(ticket);
		}, function (err) {
			if (attempt !== self.attempt || self.stopped)
				return;
			st.conn.ticketErrors++;
			st.conn.lastClose = { code: 0, reason: String(err && err.message || err) };
			st.conn.state = 'reconnecting';
			self.retryLater();
			self.changed();
		});
	};

	/* Opens the stream (with a ticket, or none when none is needed). */
	Dashboard.prototype.open = function (ticket) {
		var self = this, st = this.st, o = this.opts;
		this.lastUrl = wsUrl(o.wsBase, st, ticket);
		var ws = new o.WebSocket(this.lastUrl);
		this.ws = ws;
		st.conn.state = 'connecting';
		ws.onopen = function () {
			if (self.ws !== ws)
				return;
			st.conn.state = 'open';
			st.conn.opens++;
			self.backoff = 500;
			self.changed();
		};
		ws.onmessage = function (e) {
			if (self.ws !== ws)
				return;
			var msg;
			try {
				msg = JSON.parse(e.data);
			} catch (err) {
				return;
			}
			handleMessage(st, msg, o.now());
			self.changed();
		};
		/* Browsers follow an error with a close; some clients (Node's)
		 * do not after a refused handshake: whichever comes first. */
		ws.onerror = function () {
			if (self.ws !== ws)
				return;
			ws.onclose({ code: 1006, reason: 'connection failed' });
			try {
				ws.close();
			} catch (err) { /* not open yet */ }
		};
		ws.onclose = function (e) {
			if (self.ws !== ws)
				return;
			self.ws = null;
			st.conn.closes++;
			st.conn.lastClose = { code: e.code, reason: e.reason || '' };
			st.conn.state = self.stopped ? 'stopped' : 'reconnecting';
			if (!self.stopped)
				self.retryLater();
			self.changed();
		};
		this.changed();
	};

	/* A new token (or the Connect button): a new connection now. */
	Dashboard.prototype.reconnect = function (token) {
		if (token !== undefined)
			this.opts.token = token;
		var old = this.ws;
		this.ws = null;
		if (old)
			old.close();
		this.backoff = 500;
		this.connect();
	};

	Dashboard.prototype.stop = function () {
		this.stopped = true;
		this.attempt++; /* a ticket in flight opens nothing */
		if (this.timer !== null)
			this.opts.clearTimeout(this.timer);
		this.timer = null;
		var old = this.ws;
		this.ws = null;
		if (old)
			old.close();
		this.st.conn.state = 'stopped';
	};

	var api = {
		createState: createState, handleMessage: handleMessage, rate: rate,
		resumeQuery: resumeQuery, wsUrl: wsUrl, fetchTicket: fetchTicket, Dashboard: Dashboard,
		FAMILIES: FAMILIES, FAMILY_OF: FAMILY_OF
	};
	if (typeof module !== 'undefined' && module.exports)
		module.exports = api;
	root.StrataDashboard = api;

	/* ---- the page (browsers only) ---- */
	if (typeof document === 'undefined')
		return;

	function $(id) { return document.getElementById(id); }

	function fmt(v, digits) {
		if (v === undefined || v === null)
			return '–';
		if (typeof v === 'number')
			return digits !== undefined ? v.toFixed(digits) : v.toLocaleString();
		return String(v);
	}

	function clock(ms) {
		return new Date(ms).toTimeString().slice(0, 8);
	}

	/* Replaces el's children with dt/dd pairs (text only: no HTML from data). */
	function renderPairs(el, pairs) {
		el.textContent = '';
		pairs.forEach(function (p) {
			var dt = document.createElement('dt');
			var dd = document.createElement('dd');
			dt.textContent = p[0];
			if (p[1] instanceof Node)
				dd.appendChild(p[1]);
			else
				dd.textContent = p[1];
			el.appendChild(dt);
			el.appendChild(dd);
		});
	}

	function meter(value, max) {
		var m = document.createElement('meter');
		m.min = 0;
		m.max = max > 0 ? max : 1;
		m.value = value || 0;
		return m;
	}

	function renderList(el, items, text) {
		el.textContent = '';
		items.forEach(function (it) {
			var li = document.createElement('li');
			li.textContent = text(it);
			li.title = li.textContent;
			el.appendChild(li);
		});
	}

	function badge(el, text, cls) {
		el.textContent = text;
		el.className = 'badge ' + (cls || '');
	}

	function render(dash) {
		var st = dash.st, now = Date.now();
		var c = st.conn;
		badge($('conn-state'), 'stream: ' + c.state + (c.opens > 1 ? ' (reconnected ' + (c.opens - 1) + '×)' : ''),
		      c.state === 'open' ? 'ok' : c.state === 'reconnecting' ? 'warn' : '');
		badge($('stratad-state'), 'stratad: ' + c.stratad,
		      c.stratad === 'up' ? 'ok' : c.stratad === 'down' ? 'bad' : '');

		var p = st.pool && st.pool.data;
		if (p)
			renderPairs($('pool'), [
				['hit rate', fmt(100 * (p.hit_rate || 0), 1) + ' %'],
				['', meter(p.hit_rate, 1)],
				['used pages', fmt(p.used_pages) + ' / ' + fmt(p.total_pages)],
				['', meter(p.used_pages, p.total_pages)],
				['dirty pages', fmt(p.dirty_pages)],
				['free pages', fmt(p.free_pages)],
				['pinned pages', fmt(p.pinned_pages || 0)],
				['hits / misses', fmt(p.hits || 0) + ' / ' + fmt(p.misses || 0)],
				['evictions', fmt(p.evictions || 0)],
				['updated', clock(st.pool.at)]
			]);
		var io = st.io && st.io.data;
		if (io)
			renderPairs($('io'), [
				['reads/s', fmt(io.reads_per_sec, 1)],
				['writes/s', fmt(io.writes_per_sec, 1)],
				['read MB/s', fmt(io.read_throughput_mbps, 2)],
				['write MB/s', fmt(io.write_throughput_mbps, 2)],
				['avg read latency', fmt(io.avg_read_latency_us) + ' µs'],
				['avg write latency', fmt(io.avg_write_latency_us) + ' µs'],
				['reads / writes', fmt(io.reads || 0) + ' / ' + fmt(io.writes || 0)],
				['updated', clock(st.io.at)]
			]);
		var t = st.tiers && st.tiers.data;
		if (t)
			renderPairs($('tiers'), [
				['hot pages', fmt(t.hot_pages)],
				['warm pages', fmt(t.warm_pages)],
				['cold pages', fmt(t.cold_pages)],
				['migrations', fmt(t.total_migrations)],
				['compression ratio', fmt(t.avg_compression_ratio, 2)],
				['bytes saved', fmt(t.bytes_saved)],
				['updated', clock(st.tiers.at)]
			]);

		var tbody = $('families').tBodies[0];
		tbody.textContent = '';
		FAMILIES.forEach(function (f) {
			var fam = st.families[f];
			var tr = document.createElement('tr');
			[f, fmt(rate(st, f, now), 1), fmt(fam.total), fmt(fam.lastSeq), fmt(fam.lastVariant)]
				.forEach(function (v) {
					var td = document.createElement('td');
					td.textContent = v;
					tr.appendChild(td);
				});
			tbody.appendChild(tr);
		});
		var line = function (r) { return clock(r.at) + ' #' + fmt(r.seq) + ' ' + summary(r.variant, r.data); };
		renderList($('lsm-events'), st.lsm, line);
		renderList($('tier-events'), st.tierMoves, line);
		renderList($('events'), st.recent, function (r) { return clock(r.at) + ' ' + r.family + ' #' + fmt(r.seq) + ' ' + summary(r.variant, r.data); });
		renderList($('notices'), st.notices, function (n) { return clock(n.at) + ' ' + n.kind + ': ' + n.text; });

		var m = $('message');
		if (c.state === 'reconnecting' && c.lastClose && c.opens === 0) {
			m.textContent = 'The stream refused the connection (' + (c.lastClose.code ?
				'close code ' + c.lastClose.code : c.lastClose.reason) + '). ' +
				'If this frontend needs a token, paste it above; a browser page on another origin ' +
				'needs strata-front --allow-origin. Retrying…';
			m.className = 'message bad';
		} else if (st.lagged) {
			m.textContent = 'This page fell behind: ' + st.dropped + ' messages dropped by the frontend.';
			m.className = 'message';
		} else {
			m.className = 'message hidden';
		}
	}

	function authHeaders(token) {
		return token ? { Authorization: 'Bearer ' + token } : {};
	}

	/* Who we talk to, and whether a token is needed (401). */
	function probe(dash) {
		fetch('/api/v1/storage/status', { headers: authHeaders(dash.opts.token) })
			.then(function (r) {
				if (r.status === 401 || r.status === 403) {
					$('server').textContent = 'this frontend needs a valid token';
					$('token').focus();
					return null;
				}
				return r.ok ? r.json() : null;
			})
			.then(function (s) {
				if (s)
					$('server').textContent = 'stratad pid ' + s.pid + ', epoch ' + s.epoch +
						(s.page_size ? ', page ' + s.page_size + ' B' : '');
			})
			.catch(function () { $('server').textContent = 'frontend unreachable'; });
	}

	var token = '';
	try {
		token = sessionStorage.getItem('strata-token') || '';
	} catch (e) { /* storage disabled */ }
	$('token').value = token;
	var pending = false;
	var dash = new Dashboard({
		wsBase: (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host,
		WebSocket: WebSocket, token: token, httpBase: '',
		fetch: function (url, init) { return fetch(url, init); },
		now: function () { return Date.now(); },
		setTimeout: function (f, ms) { return setTimeout(f, ms); },
		clearTimeout: function (t) { clearTimeout(t); },
		onChange: function () {
			if (pending)
				return;
			pending = true; /* at most one render per frame */
			requestAnimationFrame(function () { pending = false; render(dash); });
		}
	});
	$('token-form').addEventListener('submit', function (e) {
		e.preventDefault();
		var t = $('token').value.trim();
		try {
			sessionStorage.setItem('strata-token', t);
		} catch (err) { /* storage disabled */ }
		dash.reconnect(t);
		probe(dash);
	});
	setInterval(function () { render(dash); }, 1000); /* rates decay without events */
	dash.connect();
	probe(dash);
	root.strataDashboard = dash;
})(typeof window !== 'undefined' ? window : globalThis);
