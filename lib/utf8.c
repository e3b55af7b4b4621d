/* utf8.c - strict UTF-8 validation (see utf8.h). */
#include "utf8.h"

#include <stdint.h>
#include <string.h>

/* Bytes whose high bit is set in any of the 8 bytes of a 64-bit word. */
#define UTF8_HIGH_BITS UINT64_C(0x8080808080808080)

/*
 * Length of the well-formed sequence starting at p (1..4), or 0 if the
 * bytes at p do not start one.  The ranges are those of Unicode Table 3-7:
 * the second byte's range after E0, ED, F0 and F4 is what rules out
 * overlongs, surrogates and code points above U+10FFFF.
 */
static size_t
seq_len(const unsigned char *p, size_t avail)
{
	unsigned char c = p[0];
	unsigned char lo = 0x80, hi = 0xBF;
	size_t n, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF) {
		n = 2;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		if (c == 0xE0)
			lo = 0xA0;		/* overlong below U+0800 */
		else if (c == 0xED)
			hi = 0x9F;		/* surrogates U+D800..U+DFFF */
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		if (c == 0xF0)
			lo = 0x90;		/* overlong below U+10000 */
		else if (c == 0xF4)
			hi = 0x8F;		/* above U+10FFFF */
	} else {
		return 0;			/* 80..C1 and F5..FF never start one */
	}
	if (avail < n)
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xBF)
			return 0;
	return n;
}

size_t
utf8_valid_prefix(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		/*
		 * Fast path: almost every protocol line is ASCII, so skip
		 * eight ASCII bytes at a time.  memcpy keeps it free of
		 * alignment and aliasing trouble; compilers make it one load.
		 */
		while (len - i >= 8) {
			uint64_t w;

			memcpy(&w, p + i, sizeof w);
			if (w & UTF8_HIGH_BITS)
				break;
			i += 8;
		}
		if (i >= len)
			break;
		if (p[i] < 0x80) {
			i++;
		} else {
			size_t n = seq_len(p + i, len - i);

			if (n == 0)
				return i;
			i += n;
		}
	}
	return len;
}

int
utf8_valid(const char *s, size_t len)
{
	return utf8_valid_prefix(s, len) == len;
}
