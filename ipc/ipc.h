/*
 * ipc/ipc.h — Strata's transport over nng: control REQ/REP and event
 * PUB/SUB. Bytes only: ipc knows nothing of msgpack (that is proto's) and
 * nothing of storage.
 *
 * Control server: a REP socket with several contexts; nng's aio callbacks
 * only move messages onto a work queue served by a pool of worker threads,
 * so one slow request never serialises others and never stalls anything
 * else in the process.
 *
 * Control client: a REQ socket whose automatic resend is turned off
 * (NNG_OPT_REQ_RESENDTIME infinite): a request is sent once, and a caller
 * that wants to retry does so explicitly with the same request id, which
 * stratad deduplicates. The client redials by itself when stratad restarts.
 * While no stratad is connected, calls fail at once with STRATA_EUNAVAILABLE
 * and calls in flight when the connection drops complete with it.
 *
 * Event publisher / subscriber: PUB and SUB with raised buffers (nng drops
 * silently when a subscriber falls behind; per-topic seq numbers detect it),
 * subscriptions by byte prefix of the message.
 *
 * ipc:// socket files are created with mode 0660.
 */
#ifndef STRATA_IPC_H
#define STRATA_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest message body either side accepts unless told otherwise (16 MiB:
 * above the frontend's 8 MiB request body limit, so every request it
 * accepts fits). */
#define IPC_DEFAULT_MAX_MSG (16u << 20)
/* nng counts its own header against NNG_OPT_RECVMAXSZ; sockets allow this
 * much more and check the body size themselves. */
#define IPC_HEADER_ROOM 1024u

/* ---- control server ---- */

/*
 * Handles one request on a worker thread. On success sets *reply to a
 * malloc'd buffer (ownership passes to the server) and returns 0; a non-zero
 * return sends no reply (the client times out), so handlers should always
 * produce an error reply instead.
 */
typedef int (*ipc_handler_fn)(void *arg, const void *req, size_t len, void **reply,
			      size_t *reply_len);

struct ipc_server_opts {
	const char *url;
	unsigned contexts;  /* concurrent requests in flight (default 16) */
	unsigned workers;   /* worker threads (default 4) */
	size_t max_msg;     /* NNG_OPT_RECVMAXSZ (default IPC_DEFAULT_MAX_MSG) */
	ipc_handler_fn handler;
	void *arg;
};

struct ipc_server;

/* Binds and starts serving. Returns 0, STRATA_ECONFLICT (address in use:
 * another stratad), STRATA_EBAD_REQUEST (bad URL), STRATA_EIO; err says why. */
int ipc_server_start(struct ipc_server **out, const struct ipc_server_opts *o, char *err,
		     size_t errlen);

/* Waits up to drain_ms until no request is being handled or answered (its
 * reply is on its way). New requests keep being served meanwhile: the
 * handler should answer them at once (stratad says "shutting down"). */
void ipc_server_drain(struct ipc_server *s, int drain_ms);

/* Stops accepting, lets queued handlers finish (replies not yet sent are
 * dropped: call ipc_server_drain first), frees everything. NULL: no-op. */
void ipc_server_stop(struct ipc_server *s);

/* ---- control client ---- */

struct ipc_client;

/* Completion of an async call; runs on an nng thread, exactly once per
 * accepted call. err is 0 (reply/len valid for the call's duration only),
 * STRATA_ETIMEOUT, STRATA_EUNAVAILABLE or STRATA_ETOO_LARGE. */
typedef void (*ipc_reply_fn)(void *arg, int err, const void *reply, size_t len);

/* Dials url in the background (never fails because stratad is down). */
int ipc_client_open(struct ipc_client **out, const char *url, size_t max_msg, char *err,
		    size_t errlen);

/* Sends req; cb is called once when the reply, the timeout or a disconnect
 * arrives. Returns 0 (cb will be called), or STRATA_EUNAVAILABLE /
 * STRATA_ENOMEM (cb will not be called). */
int ipc_client_call_async(struct ipc_client *c, const void *req, size_t len, int timeout_ms,
			  ipc_reply_fn cb, void *arg);

/* Blocking call; *reply is malloc'd (caller frees). Waits up to connect_ms
 * for a connection first (0: fail at once if not connected). */
int ipc_client_call(struct ipc_client *c, const void *req, size_t len, int timeout_ms,
		    int connect_ms, void **reply, size_t *reply_len);

/* Whether a stratad is connected now. */
bool ipc_client_connected(struct ipc_client *c);

/* Cancels calls in flight (their callbacks run with STRATA_EUNAVAILABLE)
 * and closes. NULL is a no-op. */
void ipc_client_close(struct ipc_client *c);

/* ---- events ---- */

struct ipc_pub;

/* Binds the PUB socket with send buffer `sendbuf` messages (0: 1024). */
int ipc_pub_open(struct ipc_pub **out, const char *url, int sendbuf, char *err, size_t errlen);
/* Never blocks: when subscribers lag, nng drops. 0 or STRATA_EIO/ENOMEM. */
int ipc_pub_send(struct ipc_pub *p, const void *msg, size_t len);
void ipc_pub_close(struct ipc_pub *p);

struct ipc_sub;

/* Called on an nng thread for every message (msg valid during the call). */
typedef void (*ipc_msg_fn)(void *arg, const void *msg, size_t len);
/* Called on an nng thread when the connection to the publisher comes or goes. */
typedef void (*ipc_conn_fn)(void *arg, bool connected);

/* Dials url in the background, subscribed to each prefix (none: all). */
int ipc_sub_open(struct ipc_sub **out, const char *url, const char *const *prefixes,
		 size_t nprefixes, ipc_msg_fn on_msg, ipc_conn_fn on_conn, void *arg, char *err,
		 size_t errlen);
bool ipc_sub_connected(struct ipc_sub *s);
/* Stops delivery (no callback runs after it returns) and closes. */
void ipc_sub_close(struct ipc_sub *s);

/* Max path length of an ipc:// socket (sun_path less its NUL). */
#define IPC_MAX_SOCKET_PATH 107

/* Checks an ipc:// URL's path fits a unix socket; 0 or STRATA_EBAD_REQUEST. */
int ipc_url_check(const char *url, char *err, size_t errlen);

#endif
