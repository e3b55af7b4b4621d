/* uuid7.c - UUIDv7 layout and text conversion. */
#include "uuid7.h"
#include "hex.h"

#include <string.h>

void
uuid7_next(struct uuid7_gen *g, uint64_t now_ms, const unsigned char rnd[16],
    unsigned char out[16])
{
	uint64_t ms = now_ms;

	if (ms <= g->last_ms) {
		ms = g->last_ms;
		if (g->seq >= 0x0fff) {
			ms++;
			g->seq = 0;
		} else {
			g->seq++;
		}
	} else {
		/* Start low in the sequence space so bursts have room. */
		g->seq = (uint16_t)(rnd[0] & 0x01ff);
	}
	g->last_ms = ms;

	memcpy(out, rnd, 16);
	for (int i = 0; i < 6; i++)
		out[i] = (unsigned char)(ms >> (40 - 8 * i));
	out[6] = (unsigned char)(0x70 | ((g->seq >> 8) & 0x0f));
	out[7] = (unsigned char)(g->seq & 0xff);
	out[8] = (unsigned char)(0x80 | (rnd[8] & 0x3f));
}

void
uuid_format(const unsigned char u[16], char out[UUID_BUFSZ])
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[u[i] >> 4];
		out[o++] = hex[u[i] & 0x0f];
	}
	out[o] = '\0';
}

int
uuid_parse(const char *s, unsigned char out[16])
{
	size_t p = 0;

	for (int i = 0; i < 16; i++) {
		int hi, lo;

		if (i == 4 || i == 6 || i == 8 || i == 10) {
			if (s[p++] != '-')
				return -1;
		}
		hi = hex_digit(s[p]);
		if (hi < 0)
			return -1;
		lo = hex_digit(s[p + 1]);
		if (lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
		p += 2;
	}
	return s[p] == '\0' ? 0 : -1;
}
