/*
 * core/json/ucd.c — General_Category lookup over the generated range table
 * (core/json/ucd_table.c) and the RFC 9485 category names.
 */
#include "core/json/ucd.h"

#include <string.h>

enum ucd_gc ucd_category(uint32_t cp)
{
	if (cp > 0x10FFFF)
		return UCD_CN;
	/* the last range starting at or below cp; ucd_ranges[0].start is 0 */
	size_t lo = 0, hi = ucd_nranges;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (ucd_ranges[mid].start <= cp)
			lo = mid;
		else
			hi = mid;
	}
	return (enum ucd_gc)ucd_ranges[lo].gc;
}

uint32_t ucd_property_mask(const char *name, size_t len)
{
	static const struct {
		char major;
		const char *minors; /* the second letters, in enum order */
		enum ucd_gc first;
	} classes[] = {
		{'L', "ultmo", UCD_LU}, {'M', "nce", UCD_MN},    {'N', "dlo", UCD_ND},
		{'P', "cdseifo", UCD_PC}, {'S', "mcko", UCD_SM}, {'Z', "slp", UCD_ZS},
		{'C', "cfso", UCD_CC},
	};
	if (len < 1 || len > 2)
		return 0;
	for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
		if (name[0] != classes[i].major)
			continue;
		size_t nminor = strlen(classes[i].minors);
		if (len == 1) {
			uint32_t m = ((1u << nminor) - 1) << classes[i].first;
			return classes[i].major == 'C' ? m | 1u << UCD_CN : m;
		}
		if (classes[i].major == 'C' && (name[1] == 'n' || name[1] == 's'))
			return name[1] == 'n' ? 1u << UCD_CN : 0; /* RFC 9485 has no Cs */
		const char *at = memchr(classes[i].minors, name[1], nminor);
		return at ? 1u << (classes[i].first + (unsigned)(at - classes[i].minors)) : 0;
	}
	return 0;
}
