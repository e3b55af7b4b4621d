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

/* The two hex digits of every byte value, byte b's at 2 * b. */
static const char hex_pairs[513] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
    "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
    "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
    "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
    "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
    "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";

void
uuid_format(const unsigned char u[16], char out[UUID_BUFSZ])
{
	/* Where byte i's digits go: 8-4-4-4-12, dashes between the groups. */
	static const unsigned char at[16] = {
		0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34
	};

	for (int i = 0; i < 16; i++)
		memcpy(out + at[i], hex_pairs + 2 * u[i], 2);
	out[8] = out[13] = out[18] = out[23] = '-';
	out[36] = '\0';
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
