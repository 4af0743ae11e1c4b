/*
 * daemon/ops_columnar.c — columnar.* ops over core/columnar (tables in
 * DATA/columnar), and the module hooks that open and close them.
 *
 * JSON mapping of values: int64 and timestamp are JSON integers
 * (timestamps in microseconds since the Unix epoch; on input an RFC 3339
 * string is accepted too), float64 a JSON number or, for values JSON cannot
 * hold, the strings "NaN", "Infinity", "-Infinity"; bool true/false;
 * string a JSON string; null is null (or, in row form, a missing key).
 *
 * A batch is checked completely before anything is written: the first
 * type error rejects the whole batch with bad_request naming the row and
 * the column.
 *
 * A table created with "tablespace" keeps its files in TSDIR/columnar/NAME
 * (DATA/columnar/NAME is a link to them). An insert is checked against the
 * tablespace's quota with the batch's plain size (8 bytes a number, 1 a
 * bool, the bytes of a string, a bit a null flag: an upper bound of what
 * the encodings write) and the bytes the table's files actually grew by are
 * accounted. The "tablespace" of every answer is where the files are (the
 * current name of that tablespace), found from the link.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/columnar/columnar.h"
#include "daemon/args.h"
#include "daemon/dispatch.h"
#include "daemon/modules.h"
#include "daemon/stratad.h"
#include "daemon/tablespaces.h"
#include "strata/error.h"

#define BATCH_MAX_ROWS 1000000
#define PAGE_DEFAULT 1000
#define PAGE_MAX 100000
#define REPLY_SOFT_LIMIT (8u << 20) /* stop a page here; max_msg is 16 MiB */

/* ---- module ------------------------------------------------------------------------ */

static int mod_open(struct stratad *d, char *err, size_t errlen)
{
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s/columnar", d->data_dir);
	return columnar_open(&d->columnar, dir, err, errlen);
}

static int mod_close(struct stratad *d)
{
	columnar_close(d->columnar);
	d->columnar = NULL;
	return 0;
}

const struct module module_columnar = {.name = "columnar", .open = mod_open, .close = mod_close};

/* ---- helpers ---------------------------------------------------------------------- */

/* A JSON string of at most n bytes of s, cut back to a UTF-8 boundary
 * (zone-map prefixes may end inside a character). */
static json_t *json_str_safe(const char *s, size_t n)
{
	json_t *j = json_stringn(s ? s : "", n);
	while (!j && n > 0) {
		n--;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
		j = json_stringn(s, n);
	}
	return j ? j : json_string("");
}

static json_t *json_f64(double f)
{
	if (isnan(f))
		return json_string("NaN");
	if (isinf(f))
		return json_string(f > 0 ? "Infinity" : "-Infinity");
	return json_real(f);
}

static json_t *value_json(enum col_type ty, const struct col_value *v)
{
	if (v->null)
		return json_null();
	switch (ty) {
	case COL_FLOAT64: return json_f64(v->f);
	case COL_BOOL: return json_boolean(v->i != 0);
	case COL_STRING: return json_str_safe(v->s, v->slen);
	default: return json_integer(v->i);
	}
}

static int table_of(struct stratad *d, const json_t *args, struct col_table **t, const char **name,
		    char *msg, size_t msglen)
{
	int rv = arg_str(args, "name", true, NULL, 256, name, msg, msglen);
	if (rv)
		return rv;
	if (!col_name_ok(*name, "table name", msg, msglen))
		return STRATA_EBAD_REQUEST;
	if (columnar_acquire(d->columnar, *name, t) != 0) {
		snprintf(msg, msglen, "no columnar table named '%s'", *name);
		return STRATA_ENOT_FOUND;
	}
	return 0;
}

static int column_of(struct col_table *t, const json_t *args, const char *field, bool required,
		     int *col, char *msg, size_t msglen)
{
	const char *cname;
	int rv = arg_str(args, field, required, NULL, 256, &cname, msg, msglen);
	if (rv)
		return rv;
	if (!cname) {
		*col = -1;
		return 0;
	}
	*col = col_table_column(t, cname);
	if (*col < 0) {
		struct col_table_info ti;
		col_table_get_info(t, &ti);
		snprintf(msg, msglen, "table '%s' has no column '%.64s'", ti.name, cname);
		return STRATA_ENOT_FOUND;
	}
	return 0;
}

/* An integer that may arrive as a digit string (query parameters). */
static int arg_count(const json_t *args, const char *name, uint64_t def, uint64_t max,
		     uint64_t *out, char *msg, size_t msglen)
{
	json_t *v = json_object_get(args, name);
	*out = def;
	if (!v || json_is_null(v))
		return 0;
	long long x = -1;
	if (json_is_integer(v))
		x = json_integer_value(v);
	else if (json_is_string(v)) {
		char *end;
		const char *s = json_string_value(v);
		x = strtoll(s, &end, 10);
		if (!*s || *end)
			x = -1;
	}
	if (x < 0 || (uint64_t)x > max) {
		snprintf(msg, msglen, "field '%s' must be an integer in 0..%llu", name,
			 (unsigned long long)max);
		return STRATA_EBAD_REQUEST;
	}
	*out = (uint64_t)x;
	return 0;
}

static int where_of(struct col_table *t, const json_t *args, struct col_where **w, char *msg,
		    size_t msglen)
{
	const char *text;
	*w = NULL;
	int rv = arg_str(args, "where", false, NULL, 65536, &text, msg, msglen);
	if (rv || !text || !*text)
		return rv;
	return col_where_parse(t, text, w, msg, msglen);
}

static int core_error(int rv, const char *table, char *msg, size_t msglen)
{
	if (msg[0])
		return rv;
	if (rv == STRATA_ECORRUPT)
		snprintf(msg, msglen, "table '%s': a chunk failed its checksum; no data returned", table);
	else
		snprintf(msg, msglen, "table '%s': %s", table, strata_strerror(rv));
	return rv;
}

/* The tablespace table name lives in: its id, 0 for none. */
static uint64_t table_tablespace(struct stratad *d, const char *name)
{
	char home[4200];
	snprintf(home, sizeof(home), "%s/columnar", d->data_dir);
	return tablespaces_owner(d, home, name);
}

static json_t *info_json(struct stratad *d, struct col_table *t)
{
	struct col_table_info ti;
	col_table_get_info(t, &ti);
	json_t *cols = json_array();
	for (size_t c = 0; cols && c < ti.ncols; c++)
		json_array_append_new(cols, json_pack("{s:s, s:s, s:b}", "name", ti.cols[c].name,
						      "type", col_type_name(ti.cols[c].type),
						      "nullable", ti.cols[c].nullable));
	json_t *j = json_pack("{s:s, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f}", "name", ti.name,
			      "columns", cols, "rows", (json_int_t)ti.rows, "row_groups",
			      (json_int_t)ti.row_groups, "chunks", (json_int_t)ti.chunks,
			      "row_group_rows", (json_int_t)ti.row_group_rows,
			      "stored_bytes", (json_int_t)ti.stored_bytes,
			      "plain_bytes", (json_int_t)ti.plain_bytes,
			      "bytes", (json_int_t)ti.file_bytes,
			      "compression_ratio",
			      ti.plain_bytes ? (double)ti.stored_bytes / (double)ti.plain_bytes : 1.0);
	char tsname[TS_NAME_MAX + 1];
	const char *n = tablespaces_name(d, table_tablespace(d, ti.name), tsname, sizeof(tsname));
	if (j)
		json_object_set_new(j, "tablespace", n ? json_string(n) : json_null());
	return j;
}

/* ---- create / list / drop / info -------------------------------------------------------- */

static int op_create(struct stratad *d, const json_t *args, json_t **result, char *msg,
		     size_t msglen)
{
	const char *name;
	int rv = arg_str(args, "name", true, NULL, 256, &name, msg, msglen);
	if (rv)
		return rv;
	if (!col_name_ok(name, "table name", msg, msglen))
		return STRATA_EBAD_REQUEST;
	uint64_t ts_id = 0;
	char kind_dir[TS_PATH_MAX + 32];
	if ((rv = tablespaces_resolve(d, args, "columnar", &ts_id, kind_dir, sizeof(kind_dir), msg,
				      msglen)))
		return rv;
	const char *ts = ts_id ? json_string_value(json_object_get(args, "tablespace")) : NULL;
	uint64_t rg;
	if ((rv = arg_count(args, "row_group_rows", 0, COL_MAX_ROW_GROUP, &rg, msg, msglen)))
		return rv;
	json_t *cols = json_object_get(args, "columns");
	size_t n = json_array_size(cols);
	if (!json_is_array(cols) || n == 0 || n > COL_MAX_COLUMNS) {
		snprintf(msg, msglen, "field 'columns' must be an array of 1..%d {\"name\":..,\"type\":..,\"nullable\":..}",
			 COL_MAX_COLUMNS);
		return STRATA_EBAD_REQUEST;
	}
	struct col_def *defs = calloc(n, sizeof(*defs));
	if (!defs)
		return STRATA_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_t *c = json_array_get(cols, i);
		const char *cn = json_string_value(json_object_get(c, "name"));
		const char *ty = json_string_value(json_object_get(c, "type"));
		json_t *nl = json_object_get(c, "nullable");
		if (!json_is_object(c) || !cn || !ty || (nl && !json_is_boolean(nl))) {
			snprintf(msg, msglen, "columns[%zu] must be {\"name\":string,\"type\":string,\"nullable\":bool}", i);
			free(defs);
			return STRATA_EBAD_REQUEST;
		}
		if (strlen(cn) > COL_NAME_MAX) {
			snprintf(msg, msglen, "columns[%zu].name must be 1..%d characters", i, COL_NAME_MAX);
			free(defs);
			return STRATA_EBAD_REQUEST;
		}
		snprintf(defs[i].name, sizeof(defs[i].name), "%s", cn);
		if (col_type_parse(ty, &defs[i].type) != 0) {
			snprintf(msg, msglen, "columns[%zu].type '%.32s' is not one of int64, float64, bool, string, timestamp", i, ty);
			free(defs);
			return STRATA_EBAD_REQUEST;
		}
		defs[i].nullable = nl ? json_is_true(nl) : true;
	}
	struct col_create_opts o = {.cols = defs, .ncols = n, .row_group_rows = (uint32_t)rg,
				    .tablespace = ts, .place_dir = ts_id ? kind_dir : NULL};
	rv = columnar_create(d->columnar, name, &o, msg, msglen);
	free(defs);
	if (rv)
		return rv;
	struct col_table *t;
	if (columnar_acquire(d->columnar, name, &t) != 0) {
		snprintf(msg, msglen, "table '%s' was dropped meanwhile", name);
		return STRATA_ENOT_FOUND;
	}
	*result = info_json(d, t);
	columnar_release(d->columnar);
	return *result ? 0 : STRATA_ENOMEM;
}

struct list_arg {
	struct stratad *d;
	json_t *arr;
};

static void list_one(struct col_table *t, void *arg)
{
	struct list_arg *a = arg;
	json_array_append_new(a->arr, info_json(a->d, t));
}

static int op_list(struct stratad *d, const json_t *args, json_t **result, char *msg, size_t msglen)
{
	(void)args, (void)msg, (void)msglen;
	json_t *arr = json_array();
	if (!arr)
		return STRATA_ENOMEM;
	struct list_arg a = {d, arr};
	columnar_foreach(d->columnar, list_one, &a);
	*result = json_pack("{s:o}", "tables", arr);
	return *result ? 0 : STRATA_ENOMEM;
}

static int op_drop(struct stratad *d, const json_t *args, json_t **result, char *msg, size_t msglen)
{
	const char *name;
	int rv = arg_str(args, "name", true, NULL, 256, &name, msg, msglen);
	if (rv)
		return rv;
	if (!col_name_ok(name, "table name", msg, msglen))
		return STRATA_EBAD_REQUEST;
	rv = columnar_drop(d->columnar, name);
	if (rv == STRATA_ENOT_FOUND) {
		snprintf(msg, msglen, "no columnar table named '%s'", name);
		return rv;
	}
	if (rv)
		return core_error(rv, name, msg, msglen);
	*result = json_pack("{s:s, s:b}", "name", name, "dropped", 1);
	return *result ? 0 : STRATA_ENOMEM;
}

static int op_info(struct stratad *d, const json_t *args, json_t **result, char *msg, size_t msglen)
{
	struct col_table *t;
	const char *name;
	int rv = table_of(d, args, &t, &name, msg, msglen);
	if (rv)
		return rv;
	*result = info_json(d, t);
	columnar_release(d->columnar);
	return *result ? 0 : STRATA_ENOMEM;
}

/* ---- insert ------------------------------------------------------------------------------- */

struct batch {
	size_t ncols, nrows;
	struct col_input *in;
	int64_t **i64;
	double **f64;
	struct col_str **str;
	uint8_t **null;
};

static void batch_free(struct batch *b)
{
	for (size_t c = 0; c < b->ncols; c++) {
		if (b->i64) free(b->i64[c]);
		if (b->f64) free(b->f64[c]);
		if (b->str) free(b->str[c]);
		if (b->null) free(b->null[c]);
	}
	free(b->in);
	free(b->i64);
	free(b->f64);
	free(b->str);
	free(b->null);
}

static int batch_alloc(struct batch *b, const struct col_table_info *ti, size_t nrows)
{
	memset(b, 0, sizeof(*b));
	b->ncols = ti->ncols;
	b->nrows = nrows;
	b->in = calloc(ti->ncols, sizeof(*b->in));
	b->i64 = calloc(ti->ncols, sizeof(*b->i64));
	b->f64 = calloc(ti->ncols, sizeof(*b->f64));
	b->str = calloc(ti->ncols, sizeof(*b->str));
	b->null = calloc(ti->ncols, sizeof(*b->null));
	if (!b->in || !b->i64 || !b->f64 || !b->str || !b->null)
		return STRATA_ENOMEM;
	for (size_t c = 0; c < ti->ncols; c++) {
		b->null[c] = calloc(nrows + 1, 1);
		if (!b->null[c])
			return STRATA_ENOMEM;
		switch (ti->cols[c].type) {
		case COL_STRING:
			b->str[c] = calloc(nrows + 1, sizeof(**b->str));
			if (!b->str[c])
				return STRATA_ENOMEM;
			b->in[c].str = b->str[c];
			break;
		case COL_FLOAT64:
			b->f64[c] = calloc(nrows + 1, sizeof(**b->f64));
			if (!b->f64[c])
				return STRATA_ENOMEM;
			b->in[c].f64 = b->f64[c];
			break;
		default:
			b->i64[c] = calloc(nrows + 1, sizeof(**b->i64));
			if (!b->i64[c])
				return STRATA_ENOMEM;
			b->in[c].i64 = b->i64[c];
		}
		b->in[c].null = b->null[c];
	}
	return 0;
}

/* The batch in the Plain encoding: what the quota check assumes it needs. */
static uint64_t batch_plain_bytes(const struct batch *b, const struct col_table_info *ti)
{
	uint64_t n = 0;
	for (size_t c = 0; c < b->ncols; c++) {
		n += (b->nrows + 7) / 8;
		if (ti->cols[c].type == COL_STRING)
			for (size_t r = 0; r < b->nrows; r++)
				n += 4 + (b->null[c][r] ? 0 : b->str[c][r].len);
		else
			n += b->nrows * (ti->cols[c].type == COL_BOOL ? 1 : 8);
	}
	return n;
}

static const char *json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE: case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

/* Stores value v (may be NULL = missing) of row r, column c. */
static int put_value(struct batch *b, const struct col_def *def, size_t c, size_t r,
		     const json_t *v, char *msg, size_t msglen)
{
	if (!v || json_is_null(v)) {
		if (!def->nullable) {
			snprintf(msg, msglen, "row %zu, column '%s': null in a non-nullable column", r,
				 def->name);
			return STRATA_EBAD_REQUEST;
		}
		b->null[c][r] = 1;
		return 0;
	}
	const char *want = col_type_name(def->type);
	switch (def->type) {
	case COL_INT64:
		if (!json_is_integer(v))
			goto type;
		b->i64[c][r] = json_integer_value(v);
		return 0;
	case COL_TIMESTAMP:
		if (json_is_integer(v)) {
			b->i64[c][r] = json_integer_value(v);
			return 0;
		}
		if (json_is_string(v) && col_parse_rfc3339(json_string_value(v), json_string_length(v),
							   &b->i64[c][r]) == 0)
			return 0;
		snprintf(msg, msglen, "row %zu, column '%s': expected a timestamp (integer microseconds or RFC 3339 text), got %s%s%.40s%s",
			 r, def->name, json_kind(v), json_is_string(v) ? " '" : "",
			 json_is_string(v) ? json_string_value(v) : "", json_is_string(v) ? "'" : "");
		return STRATA_EBAD_REQUEST;
	case COL_FLOAT64:
		if (json_is_number(v)) {
			b->f64[c][r] = json_number_value(v);
			return 0;
		}
		if (json_is_string(v)) {
			const char *s = json_string_value(v);
			if (!strcasecmp(s, "nan")) { b->f64[c][r] = NAN; return 0; }
			if (!strcasecmp(s, "infinity") || !strcasecmp(s, "inf")) { b->f64[c][r] = INFINITY; return 0; }
			if (!strcasecmp(s, "-infinity") || !strcasecmp(s, "-inf")) { b->f64[c][r] = -INFINITY; return 0; }
		}
		goto type;
	case COL_BOOL:
		if (!json_is_boolean(v))
			goto type;
		b->i64[c][r] = json_is_true(v);
		return 0;
	case COL_STRING:
		if (!json_is_string(v))
			goto type;
		if (json_string_length(v) > COL_STR_MAX) {
			snprintf(msg, msglen, "row %zu, column '%s': string of %zu bytes; at most %u", r,
				 def->name, json_string_length(v), COL_STR_MAX);
			return STRATA_EBAD_REQUEST;
		}
		b->str[c][r].p = json_string_value(v);
		b->str[c][r].len = (uint32_t)json_string_length(v);
		return 0;
	default:
		break;
	}
type:
	snprintf(msg, msglen, "row %zu, column '%s': expected %s, got %s", r, def->name, want,
		 json_kind(v));
	return STRATA_EBAD_REQUEST;
}

static int op_insert(struct stratad *d, const json_t *args, json_t **result, char *msg,
		     size_t msglen)
{
	struct col_table *t;
	const char *name;
	int rv = table_of(d, args, &t, &name, msg, msglen);
	if (rv)
		return rv;
	struct col_table_info ti;
	col_table_get_info(t, &ti);
	json_t *rows = json_object_get(args, "rows"), *cols = json_object_get(args, "columns");
	struct batch b = {0};
	size_t nrows = 0;
	if ((rows != NULL) == (cols != NULL) || (rows && !json_is_array(rows)) ||
	    (cols && !json_is_object(cols))) {
		snprintf(msg, msglen, "give either 'rows' (an array of objects) or 'columns' (an object of arrays)");
		rv = STRATA_EBAD_REQUEST;
		goto out;
	}
	if (rows) {
		nrows = json_array_size(rows);
	} else {
		const char *k;
		json_t *v;
		bool first = true;
		json_object_foreach(cols, k, v) {
			if (col_table_column(t, k) < 0) {
				snprintf(msg, msglen, "columns: table '%s' has no column '%.64s'", name, k);
				rv = STRATA_EBAD_REQUEST;
				goto out;
			}
			if (!json_is_array(v)) {
				snprintf(msg, msglen, "columns.%s must be an array", k);
				rv = STRATA_EBAD_REQUEST;
				goto out;
			}
			if (!first && json_array_size(v) != nrows) {
				snprintf(msg, msglen, "columns.%s has %zu values; the other columns have %zu", k,
					 json_array_size(v), nrows);
				rv = STRATA_EBAD_REQUEST;
				goto out;
			}
			nrows = json_array_size(v);
			first = false;
		}
	}
	if (nrows > BATCH_MAX_ROWS) {
		snprintf(msg, msglen, "a batch has at most %d rows (got %zu)", BATCH_MAX_ROWS, nrows);
		rv = STRATA_ETOO_LARGE;
		goto out;
	}
	if ((rv = batch_alloc(&b, &ti, nrows)) != 0)
		goto out;
	if (rows) {
		for (size_t r = 0; r < nrows; r++) {
			json_t *row = json_array_get(rows, r);
			if (!json_is_object(row)) {
				snprintf(msg, msglen, "row %zu must be an object, got %s", r, json_kind(row));
				rv = STRATA_EBAD_REQUEST;
				goto out;
			}
			const char *k;
			json_t *v;
			json_object_foreach(row, k, v) {
				if (col_table_column(t, k) < 0) {
					snprintf(msg, msglen, "row %zu: table '%s' has no column '%.64s'", r, name, k);
					rv = STRATA_EBAD_REQUEST;
					goto out;
				}
			}
			for (size_t c = 0; c < ti.ncols; c++)
				if ((rv = put_value(&b, &ti.cols[c], c, r,
						    json_object_get(row, ti.cols[c].name), msg, msglen)))
					goto out;
		}
	} else {
		for (size_t c = 0; c < ti.ncols; c++) {
			json_t *arr = json_object_get(cols, ti.cols[c].name);
			for (size_t r = 0; r < nrows; r++)
				if ((rv = put_value(&b, &ti.cols[c], c, r, arr ? json_array_get(arr, r) : NULL,
						    msg, msglen)))
					goto out;
		}
	}
	uint64_t ts_id = table_tablespace(d, name);
	if (ts_id && (rv = tablespaces_check(d, ts_id, batch_plain_bytes(&b, &ti), msg, msglen)))
		goto out;
	msg[0] = '\0';
	if ((rv = col_insert(t, b.in, nrows, msg, msglen)) != 0) {
		core_error(rv, name, msg, msglen);
		goto out;
	}
	if (ts_id) {
		struct col_table_info after;
		col_table_get_info(t, &after);
		if (after.file_bytes > ti.file_bytes)
			tablespaces_account(d, ts_id, after.file_bytes - ti.file_bytes);
	}
	*result = json_pack("{s:s, s:I}", "name", name, "rows", (json_int_t)nrows);
	rv = *result ? 0 : STRATA_ENOMEM;
out:
	batch_free(&b);
	columnar_release(d->columnar);
	return rv;
}

/* ---- scans ---------------------------------------------------------------------------------- */

struct page {
	json_t *out;             /* values array or rows array */
	const int *cols;
	size_t ncols;
	const struct col_def *defs;
	bool as_rows;
	size_t bytes;
	bool full;
};

static int page_row(void *arg, uint64_t row, const struct col_value *vals)
{
	(void)row;
	struct page *p = arg;
	json_t *item;
	if (p->as_rows) {
		item = json_object();
		for (size_t k = 0; item && k < p->ncols; k++) {
			const struct col_def *def = &p->defs[p->cols[k]];
			json_object_set_new(item, def->name, value_json(def->type, &vals[k]));
			p->bytes += strlen(def->name) + 8 + (vals[k].null ? 0 : vals[k].slen) + 24;
		}
	} else {
		item = value_json(p->defs[p->cols[0]].type, &vals[0]);
		p->bytes += 24 + (vals[0].null ? 0 : vals[0].slen);
	}
	if (!item || json_array_append_new(p->out, item) != 0)
		return STRATA_ENOMEM;
	if (p->bytes > REPLY_SOFT_LIMIT) {
		p->full = true;
		return 1; /* stop: the reply would get too large */
	}
	return 0;
}

static int run_page(struct col_table *t, const char *name, const json_t *args, const int *cols,
		    size_t ncols, bool as_rows, json_t **result, char *msg, size_t msglen)
{
	uint64_t offset, limit;
	struct col_where *w = NULL;
	int rv;
	if ((rv = arg_count(args, "offset", 0, UINT64_MAX >> 1, &offset, msg, msglen)) ||
	    (rv = arg_count(args, "limit", PAGE_DEFAULT, PAGE_MAX, &limit, msg, msglen)) ||
	    (rv = where_of(t, args, &w, msg, msglen)))
		return rv;
	struct col_table_info ti;
	col_table_get_info(t, &ti);
	struct page p = {.out = json_array(), .cols = cols, .ncols = ncols, .defs = ti.cols,
			 .as_rows = as_rows};
	struct col_scan_stats st;
	msg[0] = '\0';
	rv = p.out ? col_scan(t, cols, ncols, w, offset, limit, page_row, &p, &st) : STRATA_ENOMEM;
	col_where_free(w);
	if (rv == 1 && p.full) {
		rv = 0;
		st.more = true;
	}
	if (rv) {
		json_decref(p.out);
		return core_error(rv, name, msg, msglen);
	}
	uint64_t got = json_array_size(p.out);
	*result = json_pack("{s:s, s:I, s:I, s:I, s:I}", "name", name, "offset", (json_int_t)offset,
			    "count", (json_int_t)got, "rows_scanned", (json_int_t)st.rows_scanned,
			    "chunks_skipped", (json_int_t)st.chunks_skipped);
	if (!*result) {
		json_decref(p.out);
		return STRATA_ENOMEM;
	}
	json_object_set_new(*result, as_rows ? "rows" : "values", p.out);
	json_object_set_new(*result, "next_offset",
			    st.more ? json_integer((json_int_t)(offset + got)) : json_null());
	return 0;
}

static int op_column(struct stratad *d, const json_t *args, json_t **result, char *msg,
		     size_t msglen)
{
	struct col_table *t;
	const char *name;
	int rv = table_of(d, args, &t, &name, msg, msglen);
	if (rv)
		return rv;
	int col;
	if ((rv = column_of(t, args, "col", true, &col, msg, msglen)) == 0) {
		rv = run_page(t, name, args, &col, 1, false, result, msg, msglen);
		if (rv == 0) {
			struct col_table_info ti;
			col_table_get_info(t, &ti);
			json_object_set_new(*result, "column", json_string(ti.cols[col].name));
			json_object_set_new(*result, "type", json_string(col_type_name(ti.cols[col].type)));
		}
	}
	columnar_release(d->columnar);
	return rv;
}

static int op_project(struct stratad *d, const json_t *args, json_t **result, char *msg,
		      size_t msglen)
{
	struct col_table *t;
	const char *name;
	int rv = table_of(d, args, &t, &name, msg, msglen);
	if (rv)
		return rv;
	struct col_table_info ti;
	col_table_get_info(t, &ti);
	int cols[COL_MAX_COLUMNS];
	size_t n = 0;
	json_t *c = json_object_get(args, "columns");
	if (!c || (json_is_string(c) && !*json_string_value(c))) {
		for (size_t i = 0; i < ti.ncols; i++)
			cols[n++] = (int)i;
	} else if (json_is_string(c)) {
		const char *s = json_string_value(c);
		while (*s) {
			const char *e = strchr(s, ',');
			size_t len = e ? (size_t)(e - s) : strlen(s);
			char cname[COL_NAME_MAX + 2];
			if (len == 0 || len > COL_NAME_MAX || n == COL_MAX_COLUMNS) {
				snprintf(msg, msglen, "field 'columns' must be a comma-separated list of column names");
				rv = STRATA_EBAD_REQUEST;
				goto out;
			}
			memcpy(cname, s, len);
			cname[len] = '\0';
			int ci = col_table_column(t, cname);
			if (ci < 0) {
				snprintf(msg, msglen, "table '%s' has no column '%s'", name, cname);
				rv = STRATA_ENOT_FOUND;
				goto out;
			}
			cols[n++] = ci;
			s += len + (e ? 1 : 0);
		}
	} else if (json_is_array(c) && json_array_size(c) <= COL_MAX_COLUMNS) {
		size_t i;
		json_t *v;
		json_array_foreach(c, i, v) {
			int ci = json_is_string(v) ? col_table_column(t, json_string_value(v)) : -1;
			if (ci < 0) {
				snprintf(msg, msglen, "columns[%zu] is not a column of '%s'", i, name);
				rv = STRATA_ENOT_FOUND;
				goto out;
			}
			cols[n++] = ci;
		}
	} else {
		snprintf(msg, msglen, "field 'columns' must be \"a,b\" or [\"a\",\"b\"]");
		rv = STRATA_EBAD_REQUEST;
		goto out;
	}
	if (n == 0) {
		snprintf(msg, msglen, "field 'columns' names no column");
		rv = STRATA_EBAD_REQUEST;
		goto out;
	}
	rv = run_page(t, name, args, cols, n, true, result, msg, msglen);
	if (rv == 0) {
		json_t *names = json_array();
		for (size_t i = 0; names && i < n; i++)
			json_array_append_new(names, json_string(ti.cols[cols[i]].name));
		json_object_set_new(*result, "columns", names);
	}
out:
	columnar_release(d->columnar);
	return rv;
}

static int op_aggregate(struct stratad *d, const json_t *args, json_t **result, char *msg,
			size_t msglen)
{
	struct col_table *t;
	const char *name, *fname;
	int rv = table_of(d, args, &t, &name, msg, msglen);
	if (rv)
		return rv;
	int col;
	enum col_agg fn;
	struct col_where *w = NULL;
	struct col_agg_result r = {0};
	if ((rv = arg_str(args, "fn", true, NULL, 16, &fname, msg, msglen)))
		goto out;
	if (col_agg_parse(fname, &fn) != 0) {
		snprintf(msg, msglen, "field 'fn' must be one of count, sum, min, max, avg");
		rv = STRATA_EBAD_REQUEST;
		goto out;
	}
	if ((rv = column_of(t, args, "col", fn != COL_AGG_COUNT, &col, msg, msglen)) ||
	    (rv = where_of(t, args, &w, msg, msglen)))
		goto out;
	msg[0] = '\0';
	if ((rv = col_aggregate(t, col, fn, w, &r, msg, msglen)) != 0) {
		core_error(rv, name, msg, msglen);
		goto out;
	}
	json_t *val;
	if (r.null)
		val = json_null();
	else if (r.s)
		val = json_str_safe(r.s, r.slen);
	else if (r.is_float)
		val = json_f64(r.f);
	else if (fn != COL_AGG_COUNT && r.type == COL_BOOL)
		val = json_boolean(r.i != 0);
	else
		val = json_integer(r.i);
	struct col_table_info ti;
	col_table_get_info(t, &ti);
	*result = json_pack("{s:s, s:s, s:o, s:o, s:I, s:I, s:I}", "name", name, "fn", col_agg_name(fn),
			    "col", col >= 0 ? json_string(ti.cols[col].name) : json_null(), "value", val,
			    "count", (json_int_t)r.count, "rows_scanned", (json_int_t)r.rows_scanned,
			    "chunks_skipped", (json_int_t)r.chunks_skipped);
	rv = *result ? 0 : STRATA_ENOMEM;
out:
	col_agg_result_clear(&r);
	col_where_free(w);
	columnar_release(d->columnar);
	return rv;
}

static json_t *zone_json(enum col_type ty, bool has, const struct col_value *v)
{
	if (!has)
		return json_null();
	return value_json(ty, v);
}

static int op_stats(struct stratad *d, const json_t *args, json_t **result, char *msg,
		    size_t msglen)
{
	struct col_table *t;
	const char *name;
	int rv = table_of(d, args, &t, &name, msg, msglen);
	if (rv)
		return rv;
	int col;
	struct col_column_stats s = {0};
	if ((rv = column_of(t, args, "col", true, &col, msg, msglen)) ||
	    (rv = col_column_stats_get(t, col, &s))) {
		columnar_release(d->columnar);
		return rv;
	}
	struct col_table_info ti;
	col_table_get_info(t, &ti);
	json_t *encs = json_object(), *chunks = json_array();
	for (int e = 0; encs && e < COL_ENC_COUNT; e++)
		if (s.encodings[e])
			json_object_set_new(encs, col_encoding_name((enum col_encoding)e),
					    json_integer((json_int_t)s.encodings[e]));
	for (size_t i = 0; chunks && i < s.nchunks; i++) {
		const struct col_chunk_stats *c = &s.chunks[i];
		json_t *cj = json_pack("{s:i, s:i, s:s, s:I, s:I, s:f, s:i, s:I, s:o, s:o}",
				       "row_group", (int)c->row_group, "rows", (int)c->rows,
				       "encoding", col_encoding_name(c->enc),
				       "stored_bytes", (json_int_t)c->stored_bytes,
				       "plain_bytes", (json_int_t)c->plain_bytes,
				       "compression_ratio",
				       c->plain_bytes ? (double)c->stored_bytes / (double)c->plain_bytes : 1.0,
				       "null_count", (int)c->null_count,
				       "distinct_estimate", (json_int_t)c->distinct_estimate,
				       "min", zone_json(s.type, c->has_minmax, &c->min),
				       "max", zone_json(s.type, c->has_minmax, &c->max));
		if (cj && c->has_nan)
			json_object_set_new(cj, "has_nan", json_true());
		if (cj && c->max_truncated)
			json_object_set_new(cj, "max_truncated", json_true());
		json_array_append_new(chunks, cj);
	}
	uint64_t avx2, scalar;
	col_simd_counters(&avx2, &scalar);
	*result = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:o, s:o, s:b, s:I, s:I, s:f, s:o, s:o,"
			    " s:{s:b, s:I, s:I}}",
			    "name", name, "column", ti.cols[col].name, "type", col_type_name(s.type),
			    "rows", (json_int_t)s.rows, "null_count", (json_int_t)s.null_count,
			    "distinct_estimate", (json_int_t)s.distinct_estimate,
			    "min", zone_json(s.type, s.has_minmax, &s.min),
			    "max", zone_json(s.type, s.has_minmax, &s.max), "has_nan", s.has_nan,
			    "stored_bytes", (json_int_t)s.stored_bytes,
			    "plain_bytes", (json_int_t)s.plain_bytes,
			    "compression_ratio", s.compression_ratio, "encodings", encs, "chunks", chunks,
			    "simd", "avx2_available", col_simd_avx2_available(),
			    "avx2_calls", (json_int_t)avx2, "scalar_calls", (json_int_t)scalar);
	col_column_stats_clear(&s);
	columnar_release(d->columnar);
	return *result ? 0 : STRATA_ENOMEM;
}

const struct op_def ops_columnar[] = {
	{"columnar.create", op_create, true, false},
	{"columnar.list", op_list, false, false},
	{"columnar.drop", op_drop, true, false},
	{"columnar.info", op_info, false, false},
	{"columnar.insert", op_insert, true, false},
	{"columnar.column", op_column, false, false},
	{"columnar.project", op_project, false, false},
	{"columnar.aggregate", op_aggregate, false, false},
	{"columnar.stats", op_stats, false, false},
	{0},
};
