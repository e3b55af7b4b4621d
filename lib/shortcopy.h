/*
 * shortcopy.h - memcpy without a call for up to 16 bytes: two loads that
 * may overlap, then two stores.  Almost everything the JSON writer and
 * parser copy is a member name or a short value, where the call to
 * memcpy costs more than the copy.  Longer runs go to memcpy.
 */
#ifndef PARKD_SHORTCOPY_H
#define PARKD_SHORTCOPY_H

#include <stdint.h>
#include <string.h>

static inline void
short_copy(char *d, const char *s, size_t n)
{
	uint64_t a8, b8;
	uint32_t a4, b4;

	if (n >= 8 && n <= 16) {
		memcpy(&a8, s, 8);
		memcpy(&b8, s + (n - 8), 8);
		memcpy(d, &a8, 8);
		memcpy(d + (n - 8), &b8, 8);
	} else if (n >= 4 && n < 8) {
		memcpy(&a4, s, 4);
		memcpy(&b4, s + (n - 4), 4);
		memcpy(d, &a4, 4);
		memcpy(d + (n - 4), &b4, 4);
	} else if (n > 0 && n < 4) {
		char x = s[0], y = s[n / 2], z = s[n - 1];

		d[0] = x;
		d[n / 2] = y;
		d[n - 1] = z;
	} else if (n > 16) {
		memcpy(d, s, n);
	}
}

#endif
