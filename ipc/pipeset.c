#include "ipc/pipeset.h"

#include <string.h>

void pipeset_init(struct pipeset *s, pipeset_change_fn on_change, void *arg)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->on_change = on_change;
	s->arg = arg;
}

void pipeset_destroy(struct pipeset *s)
{
	pthread_mutex_destroy(&s->lock);
}

/* Whether nng still knows the pipe: a closed pipe's id is gone from nng's
 * table (it is removed right after REM_POST). */
static bool pipe_open(uint32_t id)
{
	nng_pipe p = {.id = id};
	nng_sockaddr sa;
	return nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) != NNG_ENOENT;
}

static int find(const uint32_t *v, unsigned n, uint32_t id)
{
	for (unsigned i = 0; i < n; i++)
		if (v[i] == id)
			return (int)i;
	return -1;
}

static void drop_at(struct pipeset *s, unsigned i)
{
	s->ids[i] = s->ids[--s->n];
}

static void changed(struct pipeset *s, unsigned before)
{
	if ((before == 0) != (s->n == 0) && s->on_change)
		s->on_change(s->arg, s->n > 0);
}

void pipeset_notify(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct pipeset *s = arg;
	uint32_t id = (uint32_t)nng_pipe_id(p);
	if (id == 0 || (ev != NNG_PIPE_EV_ADD_POST && ev != NNG_PIPE_EV_REM_POST))
		return;
	pthread_mutex_lock(&s->lock);
	unsigned before = s->n;
	int at = find(s->ids, s->n, id);
	if (ev == NNG_PIPE_EV_ADD_POST) {
		int g = find(s->ghosts, PIPESET_GHOSTS, id);
		if (g >= 0)
			s->ghosts[g] = 0; /* its REM_POST came first: never add it */
		else if (at < 0 && s->n < PIPESET_MAX && pipe_open(id))
			s->ids[s->n++] = id;
	} else if (at >= 0) {
		drop_at(s, (unsigned)at);
	} else {
		s->ghosts[s->ghost_next] = id;
		s->ghost_next = (s->ghost_next + 1) % PIPESET_GHOSTS;
	}
	changed(s, before);
	pthread_mutex_unlock(&s->lock);
}

unsigned pipeset_count(struct pipeset *s)
{
	pthread_mutex_lock(&s->lock);
	unsigned n = s->n;
	pthread_mutex_unlock(&s->lock);
	return n;
}

unsigned pipeset_live(struct pipeset *s)
{
	pthread_mutex_lock(&s->lock);
	unsigned before = s->n;
	for (unsigned i = 0; i < s->n;) {
		if (pipe_open(s->ids[i]))
			i++;
		else
			drop_at(s, i);
	}
	changed(s, before);
	unsigned n = s->n;
	pthread_mutex_unlock(&s->lock);
	return n;
}
