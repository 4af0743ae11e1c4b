/*
 * daemon/args.h — reading op arguments with errors that name the field.
 *
 * Each returns 0, or STRATA_EBAD_REQUEST with msg set to e.g.
 * "field 'page_id' is required" / "field 'limit' must be an integer in
 * 1..1000". A missing optional field leaves *out = def.
 */
#ifndef STRATA_DAEMON_ARGS_H
#define STRATA_DAEMON_ARGS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

int arg_u64(const json_t *args, const char *name, bool required, uint64_t def, uint64_t min,
	    uint64_t max, uint64_t *out, char *msg, size_t msglen);
int arg_bool(const json_t *args, const char *name, bool def, bool *out, char *msg, size_t msglen);
/* *out points into args (valid while args lives); max_len in bytes. */
int arg_str(const json_t *args, const char *name, bool required, const char *def, size_t max_len,
	    const char **out, char *msg, size_t msglen);

#endif
