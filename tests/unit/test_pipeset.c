/*
 * ipc/pipeset: a socket's connected pipes from nng's notifications, robust
 * to the orders nng 1.5 delivers them in (a pipe removed without having
 * been added; removal before addition), which a counter is not.
 */
#include <criterion/criterion.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "ipc/pipeset.h"

static _Atomic int ups, downs;

static void on_change(void *arg, bool connected)
{
	(void)arg;
	atomic_fetch_add(connected ? &ups : &downs, 1);
}

static bool wait_live(struct pipeset *s, unsigned want, int ms)
{
	for (int i = 0; i < ms / 5; i++) {
		if (pipeset_live(s) == want)
			return true;
		usleep(5000);
	}
	return pipeset_live(s) == want;
}

/* A REQ socket dialed to a REP listener on a fresh inproc address, with
 * the set on the REQ side. */
struct pair {
	nng_socket req, rep;
	char url[64];
	struct pipeset set;
};

static void pair_open(struct pair *p)
{
	static int n;
	snprintf(p->url, sizeof(p->url), "inproc://pipeset-%d-%d", (int)getpid(), n++);
	atomic_store(&ups, 0);
	atomic_store(&downs, 0);
	pipeset_init(&p->set, on_change, NULL);
	cr_assert_eq(nng_rep0_open(&p->rep), 0);
	cr_assert_eq(nng_listen(p->rep, p->url, NULL, 0), 0);
	cr_assert_eq(nng_req0_open(&p->req), 0);
	cr_assert_eq(nng_pipe_notify(p->req, NNG_PIPE_EV_ADD_POST, pipeset_notify, &p->set), 0);
	cr_assert_eq(nng_pipe_notify(p->req, NNG_PIPE_EV_REM_POST, pipeset_notify, &p->set), 0);
	cr_assert_eq(nng_socket_set_ms(p->req, NNG_OPT_RECONNMINT, 10), 0);
	cr_assert_eq(nng_socket_set_ms(p->req, NNG_OPT_RECONNMAXT, 50), 0);
	cr_assert_eq(nng_dial(p->req, p->url, NULL, NNG_FLAG_NONBLOCK), 0);
	cr_assert(wait_live(&p->set, 1, 3000), "the dialed pipe was not counted");
	cr_assert_eq(atomic_load(&ups), 1);
}

static nng_pipe fake(uint32_t id)
{
	nng_pipe p = NNG_PIPE_INITIALIZER;
	p.id = id;
	return p;
}

Test(pipeset, removal_of_a_pipe_never_added_does_not_disconnect)
{
	struct pair p;
	pair_open(&p);
	/* nng 1.5: a pipe closed between ADD_PRE and ADD_POST gets REM_POST
	 * alone. A counter would now say 0 while the real pipe is up. */
	pipeset_notify(fake(0x1234567), NNG_PIPE_EV_REM_POST, &p.set);
	pipeset_notify(fake(0x1234568), NNG_PIPE_EV_REM_POST, &p.set);
	cr_assert_eq(pipeset_live(&p.set), 1);
	cr_assert_eq(atomic_load(&downs), 0, "a ghost removal reported a disconnection");
	/* Its late ADD_POST (removal first) must not count either. */
	pipeset_notify(fake(0x1234567), NNG_PIPE_EV_ADD_POST, &p.set);
	cr_assert_eq(pipeset_live(&p.set), 1);
	nng_close(p.req);
	nng_close(p.rep);
	pipeset_destroy(&p.set);
}

Test(pipeset, peer_gone_and_back_reported_once_each)
{
	struct pair p;
	pair_open(&p);
	cr_assert_eq(nng_close(p.rep), 0);
	cr_assert(wait_live(&p.set, 0, 3000), "the closed peer's pipe is still counted");
	cr_assert_eq(atomic_load(&downs), 1);
	cr_assert_eq(nng_rep0_open(&p.rep), 0);
	cr_assert_eq(nng_listen(p.rep, p.url, NULL, 0), 0);
	cr_assert(wait_live(&p.set, 1, 3000), "the redialed pipe was not counted");
	cr_assert_eq(atomic_load(&ups), 2);
	cr_assert_eq(atomic_load(&downs), 1);
	nng_close(p.req);
	nng_close(p.rep);
	pipeset_destroy(&p.set);
}

Test(pipeset, a_closed_pipe_is_pruned_even_without_its_notification)
{
	/* The set asks nng whether each pipe it holds is still open: an id
	 * whose REM_POST never reached the set does not count as connected. */
	struct pipeset s;
	atomic_store(&downs, 0);
	pipeset_init(&s, on_change, NULL);
	pthread_mutex_lock(&s.lock);
	s.ids[s.n++] = 0x2345678; /* as if added, then closed unnoticed */
	pthread_mutex_unlock(&s.lock);
	cr_assert_eq(pipeset_live(&s), 0);
	cr_assert_eq(atomic_load(&downs), 1);
	pipeset_destroy(&s);
}
