/* proto/json_text: reals in the fewest digits that read back exactly. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/json_text.h"

static void expect(json_t *v, const char *want)
{
	char *t = proto_json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	cr_assert_not_null(t);
	cr_assert_str_eq(t, want);
	free(t);
	json_decref(v);
}

Test(json_text, short_reals_stay_reals)
{
	expect(json_real(0.1), "0.1");
	expect(json_real(0.558), "0.558");
	expect(json_real(0.1 + 0.2), "0.30000000000000004");
	expect(json_real(2.0), "2.0");
	expect(json_real(-1.5), "-1.5");
	expect(json_real(1e300), "1e+300");
	expect(json_real(5e-324), "4.94065645841247e-324");
	expect(json_integer(123456789), "123456789");
	expect(json_pack("{s:f, s:[f, i], s:s}", "hit_rate", 1.0 / 3.0, "a", 0.25, 7, "s",
			 "0.10000000000000001 stays in a string"),
	       "{\"hit_rate\":0.3333333333333333,\"a\":[0.25,7],"
	       "\"s\":\"0.10000000000000001 stays in a string\"}");
	expect(json_pack("{s:s}", "k\"1.5", "x\\\"2.50000000000000001"),
	       "{\"k\\\"1.5\":\"x\\\\\\\"2.50000000000000001\"}");
}

Test(json_text, every_real_reads_back_the_same)
{
	srand(7);
	for (int i = 0; i < 20000; i++) {
		uint64_t bits = ((uint64_t)rand() << 62) ^ ((uint64_t)rand() << 31) ^ (uint64_t)rand();
		double d;
		memcpy(&d, &bits, sizeof d);
		if (!isfinite(d))
			continue;
		json_t *v = json_real(d);
		char *t = proto_json_dumps(v, JSON_ENCODE_ANY);
		cr_assert_not_null(t);
		cr_assert_eq(strtod(t, NULL), d, "%s", t);
		cr_assert(strpbrk(t, ".e"), "stays a real: %s", t);
		free(t);
		json_decref(v);
	}
}
