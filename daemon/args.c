#include "daemon/args.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "strata/error.h"

int arg_u64(const json_t *args, const char *name, bool required, uint64_t def, uint64_t min,
	    uint64_t max, uint64_t *out, char *msg, size_t msglen)
{
	json_t *v = json_object_get(args, name);
	if (!v || json_is_null(v)) {
		if (required) {
			snprintf(msg, msglen, "field '%s' is required", name);
			return STRATA_EBAD_REQUEST;
		}
		*out = def;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) < min || (uint64_t)json_integer_value(v) > max) {
		snprintf(msg, msglen, "field '%s' must be an integer in %" PRIu64 "..%" PRIu64, name,
			 min, max);
		return STRATA_EBAD_REQUEST;
	}
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

int arg_bool(const json_t *args, const char *name, bool def, bool *out, char *msg, size_t msglen)
{
	json_t *v = json_object_get(args, name);
	if (!v || json_is_null(v)) {
		*out = def;
		return 0;
	}
	if (!json_is_boolean(v)) {
		snprintf(msg, msglen, "field '%s' must be true or false", name);
		return STRATA_EBAD_REQUEST;
	}
	*out = json_is_true(v);
	return 0;
}

int arg_str(const json_t *args, const char *name, bool required, const char *def, size_t max_len,
	    const char **out, char *msg, size_t msglen)
{
	json_t *v = json_object_get(args, name);
	if (!v || json_is_null(v)) {
		if (required) {
			snprintf(msg, msglen, "field '%s' is required", name);
			return STRATA_EBAD_REQUEST;
		}
		*out = def;
		return 0;
	}
	if (!json_is_string(v)) {
		snprintf(msg, msglen, "field '%s' must be a string", name);
		return STRATA_EBAD_REQUEST;
	}
	if (json_string_length(v) > max_len) {
		snprintf(msg, msglen, "field '%s' is longer than %zu bytes", name, max_len);
		return STRATA_EBAD_REQUEST;
	}
	*out = json_string_value(v);
	return 0;
}
