/* test_uuid7.c - unit tests of the UUIDv7 layout and its text form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <uuid/uuid.h>

#include "uuid7.h"

static uint64_t
ms_of(const unsigned char u[16])
{
	uint64_t ms = 0;

	for (int i = 0; i < 6; i++)
		ms = ms << 8 | u[i];
	return ms;
}

static unsigned
seq_of(const unsigned char u[16])
{
	return (unsigned)(u[6] & 0x0f) << 8 | u[7];
}

static void
fill(unsigned char rnd[16], unsigned char b)
{
	memset(rnd, b, 16);
}

static void
test_layout(void **state)
{
	struct uuid7_gen g = { 0, 0 };
	unsigned char rnd[16], u[16];
	uint64_t now = 0x0123456789abULL;

	(void)state;
	for (int i = 0; i < 16; i++)
		rnd[i] = (unsigned char)(0xf0 + i);
	uuid7_next(&g, now, rnd, u);
	/* 48 bits of milliseconds, big endian. */
	assert_int_equal(u[0], 0x01);
	assert_int_equal(u[1], 0x23);
	assert_int_equal(u[2], 0x45);
	assert_int_equal(u[3], 0x67);
	assert_int_equal(u[4], 0x89);
	assert_int_equal(u[5], 0xab);
	assert_int_equal(ms_of(u), now);
	/* Version 7 and variant 10. */
	assert_int_equal(u[6] >> 4, 7);
	assert_int_equal(u[8] >> 6, 2);
	/* A new millisecond starts the sequence at rnd[0] (at most 0xff). */
	assert_int_equal(seq_of(u), 0xf0);
	/* The low bits of byte 8 and bytes 9..15 are random. */
	assert_int_equal(u[8] & 0x3f, 0xf8 & 0x3f);
	for (int i = 9; i < 16; i++)
		assert_int_equal(u[i], 0xf0 + i);
	assert_int_equal(g.last_ms, now);

	/* Every random byte pattern keeps version and variant. */
	for (int b = 0; b < 256; b++) {
		fill(rnd, (unsigned char)b);
		uuid7_next(&g, now + 1 + (uint64_t)b, rnd, u);
		assert_int_equal(u[6] >> 4, 7);
		assert_int_equal(u[8] >> 6, 2);
		assert_int_equal(ms_of(u), now + 1 + (uint64_t)b);
		assert_int_equal(seq_of(u), (unsigned)b);
	}
}

/* The bytes compared as an unsigned big-endian number: memcmp order. */
static void
assert_increasing(const unsigned char a[16], const unsigned char b[16])
{
	if (memcmp(a, b, 16) >= 0) {
		char sa[UUID_BUFSZ], sb[UUID_BUFSZ];

		uuid_format(a, sa);
		uuid_format(b, sb);
		fail_msg("%s is not before %s", sa, sb);
	}
}

static void
test_same_ms_increasing(void **state)
{
	struct uuid7_gen g = { 0, 0 };
	unsigned char rnd[16], prev[16], u[16];
	uint64_t now = 1795392000000ULL;

	(void)state;
	fill(rnd, 0xff);	/* the highest start: seq rnd[0] = 0xff */
	uuid7_next(&g, now, rnd, prev);
	assert_int_equal(seq_of(prev), 0xff);
	for (int i = 1; i < 100; i++) {
		/* Random bytes that go down must not break the order. */
		fill(rnd, (unsigned char)(0xff - i));
		uuid7_next(&g, now, rnd, u);
		assert_int_equal(ms_of(u), now);
		assert_int_equal(seq_of(u), 0xff + (unsigned)i);
		assert_increasing(prev, u);
		memcpy(prev, u, 16);
	}
}

static void
test_clock_steps_back(void **state)
{
	struct uuid7_gen g = { 0, 0 };
	unsigned char rnd[16], prev[16], u[16];
	uint64_t now = 1795392000000ULL;

	(void)state;
	fill(rnd, 0x00);
	uuid7_next(&g, now, rnd, prev);
	assert_int_equal(seq_of(prev), 0);
	/* One second back: the last millisecond is reused, the sequence goes on. */
	fill(rnd, 0xff);
	uuid7_next(&g, now - 1000, rnd, u);
	assert_int_equal(ms_of(u), now);
	assert_int_equal(seq_of(u), 1);
	assert_increasing(prev, u);
	memcpy(prev, u, 16);
	uuid7_next(&g, 0, rnd, u);
	assert_int_equal(ms_of(u), now);
	assert_int_equal(seq_of(u), 2);
	assert_increasing(prev, u);
	memcpy(prev, u, 16);
	/* The clock catching up gives a fresh millisecond. */
	fill(rnd, 0x05);
	uuid7_next(&g, now + 1, rnd, u);
	assert_int_equal(ms_of(u), now + 1);
	assert_int_equal(seq_of(u), 5);
	assert_increasing(prev, u);
}

static void
test_sequence_overflow(void **state)
{
	struct uuid7_gen g = { 0, 0 };
	unsigned char rnd[16], prev[16], u[16];
	uint64_t now = 1795392000000ULL;
	int n = 0;

	(void)state;
	fill(rnd, 0xff);
	uuid7_next(&g, now, rnd, prev);
	/* 0xff .. 0xfff within the millisecond. */
	for (;;) {
		uuid7_next(&g, now, rnd, u);
		assert_increasing(prev, u);
		memcpy(prev, u, 16);
		n++;
		if (seq_of(u) == 0x0fff)
			break;
		assert_true(n < 0x1000);
	}
	assert_int_equal(n, 0xfff - 0xff);
	assert_int_equal(ms_of(u), now);
	/* The next one moves to the next millisecond with sequence 0. */
	uuid7_next(&g, now, rnd, u);
	assert_int_equal(ms_of(u), now + 1);
	assert_int_equal(seq_of(u), 0);
	assert_int_equal(u[6] >> 4, 7);
	assert_increasing(prev, u);
	memcpy(prev, u, 16);
	/* The real clock still at now: stays on now + 1, sequence 1. */
	uuid7_next(&g, now, rnd, u);
	assert_int_equal(ms_of(u), now + 1);
	assert_int_equal(seq_of(u), 1);
	assert_increasing(prev, u);
	memcpy(prev, u, 16);
	/* The real clock reaching now + 1 keeps counting in that ms. */
	uuid7_next(&g, now + 1, rnd, u);
	assert_int_equal(ms_of(u), now + 1);
	assert_int_equal(seq_of(u), 2);
	assert_increasing(prev, u);
}

/* Text order equals byte order, so sorting ids sorts by issue time. */
static void
test_text_order(void **state)
{
	struct uuid7_gen g = { 0, 0 };
	unsigned char rnd[16], u[16];
	char prev[UUID_BUFSZ], s[UUID_BUFSZ];
	uint64_t now = 1000;

	(void)state;
	fill(rnd, 0x7a);
	uuid7_next(&g, now, rnd, u);
	uuid_format(u, prev);
	for (int i = 0; i < 10000; i++) {
		fill(rnd, (unsigned char)(i * 37));
		now += (uint64_t)(i % 7) - 2;	/* jitters back and forth */
		uuid7_next(&g, now, rnd, u);
		uuid_format(u, s);
		assert_true(strcmp(prev, s) < 0);
		memcpy(prev, s, sizeof(s));
	}
}

static void
test_format_parse(void **state)
{
	unsigned char u[16], back[16];
	char s[UUID_BUFSZ];

	(void)state;
	for (int i = 0; i < 16; i++)
		u[i] = (unsigned char)(i * 0x11);
	uuid_format(u, s);
	assert_string_equal(s, "00112233-4455-6677-8899-aabbccddeeff");
	assert_int_equal(strlen(s), UUID_STRLEN);
	assert_int_equal(uuid_parse(s, back), 0);
	assert_memory_equal(u, back, 16);
	/* Upper case is accepted. */
	memset(back, 0, sizeof(back));
	assert_int_equal(uuid_parse("00112233-4455-6677-8899-AABBCCDDEEFF", back), 0);
	assert_memory_equal(u, back, 16);
	/* Every byte value at every position: as libuuid writes it, and back. */
	for (int k = 0; k < 256; k++) {
		char ref[UUID_BUFSZ];

		for (int i = 0; i < 16; i++)
			u[i] = (unsigned char)(k * 31 + i * 7);
		uuid_format(u, s);
		uuid_unparse_lower(u, ref);
		assert_string_equal(s, ref);
		assert_int_equal(uuid_parse(s, back), 0);
		assert_memory_equal(u, back, 16);
	}
}

static void
test_parse_rejects(void **state)
{
	static const char *const bad[] = {
		"",
		"00112233-4455-6677-8899-aabbccddeef",		/* short */
		"00112233-4455-6677-8899-aabbccddeeff0",	/* long */
		"00112233-4455-6677-8899-aabbccddeeff ",	/* trailing space */
		" 00112233-4455-6677-8899-aabbccddeeff",
		"001122334455-6677-8899-aabbccddeeff",		/* missing dash */
		"00112233445566778899aabbccddeeff",		/* no dashes */
		"0011223-34455-6677-8899-aabbccddeeff",		/* dash moved */
		"00112233-4455-6677-8899_aabbccddeeff",
		"00112233-4455-6677-8899-aabbccddeegf",		/* not hex */
		"0011223x-4455-6677-8899-aabbccddeeff",
		"{00112233-4455-6677-8899-aabbccddeeff}",
		"00112233-4455-6677-8899-aabbccddee",
		"g0112233-4455-6677-8899-aabbccddeeff",
	};
	unsigned char u[16];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (uuid_parse(bad[i], u) != -1)
			fail_msg("accepted '%s'", bad[i]);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_same_ms_increasing),
		cmocka_unit_test(test_clock_steps_back),
		cmocka_unit_test(test_sequence_overflow),
		cmocka_unit_test(test_text_order),
		cmocka_unit_test(test_format_parse),
		cmocka_unit_test(test_parse_rejects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
