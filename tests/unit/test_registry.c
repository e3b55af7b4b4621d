/* test_registry.c - unit tests of the vehicle registry: validation, CRUD, retention and expiry, listing, snapshots, wiping, and a randomized model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/*
 * The registry and its map are compiled in here against an allocator that
 * can fail and that looks for contact data in every freed block.
 */
#include "failalloc.h"
#define malloc(n) fa_malloc(n)
#define calloc(k, n) fa_calloc(k, n)
#define realloc(p, n) fa_realloc(p, n)
#define free(p) fa_free(p)
#include "omap.c"
#include "registry.c"
#include "rng.h"
#undef malloc
#undef calloc
#undef realloc
#undef free

#define H 3600
#define T0 ((int64_t)1795428000)	/* 2026-11-23T10:00:00Z */

static pk_err
reg(registry *r, const char *plate, const char *name, const char *phone,
    int64_t now, int inside, int *created)
{
	return registry_register(r, plate, name, strlen(name), phone,
	    strlen(phone), now, inside, created);
}

static struct registry_entry
get(const registry *r, const char *plate)
{
	struct registry_entry e;

	memset(&e, 0, sizeof(e));
	if (registry_get(r, plate, &e) != PK_OK)
		fail_msg("no record for %s", plate);
	return e;
}

/* Collects expired plates as "P1|P2|...". */
struct expired {
	char buf[4096];
	size_t len;
	size_t n;
	int64_t last_expiry;
};

static void
on_expired(void *arg, const struct registry_entry *e)
{
	struct expired *x = arg;

	/* Expiry order: never earlier than the one before. */
	assert_true(x->n == 0 || e->expires_at >= x->last_expiry);
	x->last_expiry = e->expires_at;
	x->len += (size_t)snprintf(x->buf + x->len, sizeof(x->buf) - x->len,
	    "%s%s", x->n > 0 ? "|" : "", e->plate);
	x->n++;
	/* The contact is still readable during the call. */
	assert_true(e->contact_len > 0);
	assert_int_equal(strlen(e->contact_name), e->contact_len);
	assert_int_equal(e->phone[0], '+');
}

static const char *
expire(registry *r, int64_t now, size_t max)
{
	static struct expired x;
	size_t n;

	memset(&x, 0, sizeof(x));
	n = registry_expire_due(r, now, max, on_expired, &x);
	assert_int_equal(n, x.n);
	assert_int_equal(registry_check(r), 0);
	return x.buf;
}

/* ---- validation ---- */

static int
name_ok(const char *s)
{
	return registry_name_valid(s, strlen(s));
}

static char *
repeat(const char *unit, int times)
{
	static char buf[1024];

	buf[0] = '\0';
	for (int i = 0; i < times; i++)
		strcat(buf, unit);
	return buf;
}

static void
test_name_validation(void **state)
{
	(void)state;
	assert_true(name_ok("A"));
	assert_true(name_ok("Jane Doe"));
	assert_true(name_ok("Zoë Ångström-Łukasiewicz"));
	assert_true(name_ok("\xe5\xb1\xb1\xe7\x94\xb0 \xe5\xa4\xaa\xe9\x83\x8e"));
	assert_true(name_ok("\xc2\xa0"));		/* U+00A0: printable */
	assert_true(name_ok("\xf0\x9f\x9a\x97"));	/* U+1F697 */
	assert_true(name_ok("\xf4\x8f\xbf\xbf"));	/* U+10FFFF */
	assert_true(name_ok("~"));

	/* 1..100 code points, whatever their byte length. */
	assert_true(name_ok(repeat("a", 100)));
	assert_false(name_ok(repeat("a", 101)));
	assert_true(name_ok(repeat("\xc3\xa9", 100)));		/* é: 200 bytes */
	assert_false(name_ok(repeat("\xc3\xa9", 101)));
	assert_true(name_ok(repeat("\xe2\x82\xac", 100)));	/* €: 300 bytes */
	assert_true(name_ok(repeat("\xf0\x9f\x9a\x97", 100)));	/* 400 bytes */
	assert_false(name_ok(repeat("\xf0\x9f\x9a\x97", 101)));
	assert_false(registry_name_valid("", 0));
	assert_false(registry_name_valid(NULL, 0));

	/* Control characters: C0, DEL, C1, and the line separators. */
	assert_false(name_ok("Jane\tDoe"));
	assert_false(name_ok("Jane\nDoe"));
	assert_false(name_ok("Jane\rDoe"));
	assert_false(name_ok("\x1b[31m"));
	assert_false(name_ok("Jane\x7f"));
	assert_false(name_ok("Jane\xc2\x85"));		/* U+0085 NEL */
	assert_false(name_ok("\xc2\x80"));		/* U+0080 */
	assert_false(name_ok("\xc2\x9f"));		/* U+009F */
	assert_false(name_ok("a\xe2\x80\xa8" "b"));	/* U+2028 */
	assert_false(name_ok("a\xe2\x80\xa9" "b"));	/* U+2029 */
	assert_false(registry_name_valid("Ja\0ne", 5));	/* NUL inside */

	/* Malformed UTF-8. */
	assert_false(name_ok("\xc0\x80"));		/* overlong NUL */
	assert_false(name_ok("\xc1\xbf"));		/* overlong */
	assert_false(name_ok("\xe0\x80\xaf"));		/* overlong */
	assert_false(name_ok("\xf0\x80\x80\xaf"));	/* overlong */
	assert_false(name_ok("\xed\xa0\x80"));		/* U+D800 surrogate */
	assert_false(name_ok("\xed\xbf\xbf"));		/* U+DFFF surrogate */
	assert_false(name_ok("\xf4\x90\x80\x80"));	/* above U+10FFFF */
	assert_false(name_ok("\xf5\x80\x80\x80"));
	assert_false(name_ok("\xff"));
	assert_false(name_ok("\x80"));			/* lone continuation */
	assert_false(name_ok("ab\xc3"));		/* truncated */
	assert_false(name_ok("ab\xe2\x82"));		/* truncated */
	assert_false(name_ok("\xe2\x28\xa1"));		/* bad continuation */
	/* A valid sequence cut by the length, not by the bytes. */
	assert_false(registry_name_valid("\xc3\xa9", 1));
	assert_true(registry_name_valid("\xc3\xa9xyz", 2));
}

static const char *
phone(const char *in)
{
	static char out[REGISTRY_PHONE_BUFSZ];

	if (registry_phone_normalize(in, strlen(in), out) != 0) {
		assert_string_equal(out, "");
		return "BAD";
	}
	return out;
}

/* phone() of '+' and digits spread over len bytes of spaces, dashes and dots. */
static const char *
spread_phone(size_t len, const char *digits)
{
	static char in[256 + 1];
	size_t i, n = strlen(digits);

	assert_true(len < sizeof(in) && n > 0 && n < len);
	for (i = 0; i < len; i++)
		in[i] = " -."[i % 3];
	in[len] = '\0';
	in[0] = '+';
	for (i = 0; i < n; i++)
		in[1 + i * ((len - 1) / n)] = digits[i];
	return phone(in);
}

static void
test_phone_normalisation(void **state)
{
	(void)state;
	assert_string_equal(phone("+49 30 1234567"), "+49301234567");
	assert_string_equal(phone("+1-555-123.4567"), "+15551234567");
	assert_string_equal(phone("+44 (0)20"), "BAD");
	assert_string_equal(phone("  +49 30 12 34 56  "), "+4930123456");
	assert_string_equal(phone("+ 49.30.1234"), "+49301234");
	assert_string_equal(phone("+123456"), "+123456");		/* 6 digits */
	assert_string_equal(phone("+12345"), "BAD");			/* 5 */
	assert_string_equal(phone("+123456789012345"), "+123456789012345");
	assert_string_equal(phone("+1234567890123456"), "BAD");	/* 16 */
	assert_string_equal(phone("+1 2 3 4 5 6 7 8 9 0 1 2 3 4 5"),
	    "+123456789012345");
	assert_string_equal(phone("4930123456"), "BAD");		/* no + */
	assert_string_equal(phone("49+30123456"), "BAD");
	assert_string_equal(phone("++4930123456"), "BAD");
	assert_string_equal(phone("+49301234+56"), "BAD");
	assert_string_equal(phone("+"), "BAD");
	assert_string_equal(phone(""), "BAD");
	assert_string_equal(phone("+ - . - ."), "BAD");
	assert_string_equal(phone("+49 30 12345x"), "BAD");
	assert_string_equal(phone("+49\t301234567"), "BAD");
	assert_string_equal(phone("+49/301234567"), "BAD");
	assert_string_equal(phone("+4930123456\n"), "BAD");
	assert_string_equal(phone("+\xd9\xa4\xd9\xa5\xd9\xa6\xd9\xa7\xd9\xa8\xd9\xa9"),
	    "BAD");				/* Arabic-Indic digits */
	/* Input is bounded even when it would normalise fine. */
	{
		char in[REGISTRY_PHONE_INPUT_MAX + 2];
		char out[REGISTRY_PHONE_BUFSZ];

		memset(in, ' ', sizeof(in));
		memcpy(in, "+4930123456", 11);
		assert_int_equal(registry_phone_normalize(in,
		    REGISTRY_PHONE_INPUT_MAX, out), 0);
		assert_int_equal(registry_phone_normalize(in,
		    REGISTRY_PHONE_INPUT_MAX + 1, out), -1);
	}
	/*
	 * The bound is the method's (256 bytes), not a tighter one: a number
	 * written with many separators still counts by its digits.
	 */
	assert_string_equal(spread_phone(200, "4930123456"), "+4930123456");
	assert_string_equal(spread_phone(200, "493012"), "+493012");
	assert_string_equal(spread_phone(200, "123456789012345"), "+123456789012345");
	assert_string_equal(spread_phone(200, "49301"), "BAD");
	assert_string_equal(spread_phone(200, "1234567890123456"), "BAD");
}

/* ---- CRUD ---- */

static void
test_register_get_update(void **state)
{
	registry *r = registry_new(24);
	struct registry_entry e;
	int created = -1;

	(void)state;
	assert_int_equal(reg(r, "B-XY 123", "Jane Doe", "+49 30 1234567", T0,
	    0, &created), PK_OK);
	assert_int_equal(created, 1);
	e = get(r, "B-XY 123");
	assert_string_equal(e.plate, "B-XY 123");
	assert_string_equal(e.contact_name, "Jane Doe");
	assert_int_equal(e.contact_len, 8);
	assert_string_equal(e.phone, "+49301234567");
	assert_int_equal(e.registered_at, T0);
	assert_int_equal(e.updated_at, T0);
	assert_int_equal(e.last_exit_at, 0);
	assert_int_equal(e.expires_at, T0 + 24 * H);
	assert_int_equal(e.inside, 0);

	assert_int_equal(reg(r, "B-XY 123", "John Roe", "+1 555 0100 999",
	    T0 + 60, 1, &created), PK_OK);
	assert_int_equal(created, 0);
	e = get(r, "B-XY 123");
	assert_string_equal(e.contact_name, "John Roe");
	assert_string_equal(e.phone, "+15550100999");
	assert_int_equal(e.registered_at, T0);
	assert_int_equal(e.updated_at, T0 + 60);
	assert_int_equal(e.inside, 1);
	assert_int_equal(e.expires_at, REGISTRY_NEVER);
	assert_int_equal(registry_count(r), 1);

	assert_int_equal(registry_get(r, "B-XY 124", &e), PK_E_NOT_FOUND);
	assert_int_equal(registry_check(r), 0);
	registry_free(r);
	assert_int_equal(fa_live, 0);
}

static void
test_register_refuses_bad_input(void **state)
{
	registry *r = registry_new(24);
	int created = -1;

	(void)state;
	assert_int_equal(reg(r, "AB 1", "Jane", "+4930123456", T0, 0, NULL),
	    PK_OK);
	/* Plates must be canonical (normalised by the caller). */
	assert_int_equal(reg(r, "ab 1", "Jane", "+4930123456", T0, 0, &created),
	    PK_E_INVALID_PARAMS);
	assert_int_equal(created, 0);
	assert_int_equal(reg(r, " AB 1", "Jane", "+4930123456", T0, 0, NULL),
	    PK_E_INVALID_PARAMS);
	assert_int_equal(reg(r, "", "Jane", "+4930123456", T0, 0, NULL),
	    PK_E_INVALID_PARAMS);
	assert_int_equal(reg(r, "ABCDEFGHIJKLMNOPQ", "Jane", "+4930123456", T0,
	    0, NULL), PK_E_INVALID_PARAMS);
	assert_int_equal(reg(r, "AB_1", "Jane", "+4930123456", T0, 0, NULL),
	    PK_E_INVALID_PARAMS);
	assert_int_equal(registry_register(r, NULL, "J", 1, "+4930123456", 11,
	    T0, 0, NULL), PK_E_INVALID_PARAMS);
	/* A bad name or phone leaves an existing record as it was. */
	assert_int_equal(reg(r, "AB 1", "Ja\nne", "+4930123456", T0 + 1, 0,
	    NULL), PK_E_INVALID_PARAMS);
	assert_int_equal(reg(r, "AB 1", "", "+4930123456", T0 + 1, 0, NULL),
	    PK_E_INVALID_PARAMS);
	assert_int_equal(reg(r, "AB 1", "Joe", "4930123456", T0 + 1, 0, NULL),
	    PK_E_INVALID_PARAMS);
	assert_string_equal(get(r, "AB 1").contact_name, "Jane");
	assert_int_equal(get(r, "AB 1").updated_at, T0);
	assert_int_equal(registry_count(r), 1);
	registry_free(r);
}

static void
test_delete_and_purge(void **state)
{
	registry *r = registry_new(24);

	(void)state;
	assert_int_equal(reg(r, "A 1", "Ann", "+111111", T0, 0, NULL), PK_OK);
	assert_int_equal(reg(r, "B 2", "Bob", "+222222", T0, 1, NULL), PK_OK);
	assert_int_equal(reg(r, "C 3", "Cy", "+333333", T0, 0, NULL), PK_OK);
	assert_int_equal(registry_delete(r, "B 2"), PK_OK);
	assert_int_equal(registry_delete(r, "B 2"), PK_E_NOT_FOUND);
	assert_int_equal(registry_count(r), 2);
	assert_int_equal(registry_check(r), 0);
	assert_int_equal(registry_purge(r), 2);
	assert_int_equal(registry_count(r), 0);
	assert_int_equal(registry_next_due(r), REGISTRY_NEVER);
	assert_int_equal(registry_purge(r), 0);
	assert_int_equal(registry_check(r), 0);
	/* Still usable after a purge. */
	assert_int_equal(reg(r, "A 1", "Ann", "+111111", T0, 0, NULL), PK_OK);
	assert_int_equal(registry_next_due(r), T0 + 24 * H);
	registry_free(r);
	registry_free(NULL);
	assert_int_equal(fa_live, 0);
}

/* ---- retention and expiry ---- */

static void
test_expiry_after_update_and_exit(void **state)
{
	registry *r = registry_new(24);

	(void)state;
	assert_int_equal(reg(r, "OUT 1", "Ann", "+111111", T0, 0, NULL), PK_OK);
	assert_int_equal(registry_next_due(r), T0 + 24 * H);
	assert_string_equal(expire(r, T0 + 24 * H - 1, 0), "");
	/* An update restarts the clock. */
	assert_int_equal(reg(r, "OUT 1", "Ann", "+111112", T0 + H, 0, NULL),
	    PK_OK);
	assert_int_equal(registry_next_due(r), T0 + 25 * H);
	assert_string_equal(expire(r, T0 + 25 * H - 1, 0), "");
	/* So does an exit later than the update... */
	assert_int_equal(registry_vehicle_exited(r, "OUT 1", T0 + 2 * H), 1);
	assert_int_equal(get(r, "OUT 1").expires_at, T0 + 26 * H);
	assert_int_equal(get(r, "OUT 1").last_exit_at, T0 + 2 * H);
	/* ...but not an exit earlier than the last one or the update. */
	assert_int_equal(registry_vehicle_exited(r, "OUT 1", T0), 1);
	assert_int_equal(get(r, "OUT 1").last_exit_at, T0 + 2 * H);
	assert_int_equal(get(r, "OUT 1").expires_at, T0 + 26 * H);
	assert_int_equal(reg(r, "OUT 1", "Ann", "+111112", T0 + 3 * H, 0, NULL),
	    PK_OK);
	assert_int_equal(get(r, "OUT 1").expires_at, T0 + 27 * H);
	assert_int_equal(get(r, "OUT 1").last_exit_at, T0 + 2 * H);
	assert_string_equal(expire(r, T0 + 27 * H, 0), "OUT 1");
	assert_int_equal(registry_count(r), 0);
	assert_int_equal(registry_next_due(r), REGISTRY_NEVER);
	/* Hooks on plates without a record do nothing. */
	assert_int_equal(registry_vehicle_entered(r, "OUT 1"), 0);
	assert_int_equal(registry_vehicle_exited(r, "OUT 1", T0), 0);
	registry_free(r);
}

static void
test_inside_never_expires(void **state)
{
	registry *r = registry_new(1);

	(void)state;
	assert_int_equal(reg(r, "IN 1", "Ann", "+111111", T0, 1, NULL), PK_OK);
	assert_int_equal(get(r, "IN 1").expires_at, REGISTRY_NEVER);
	assert_int_equal(registry_next_due(r), REGISTRY_NEVER);
	assert_string_equal(expire(r, T0 + 1000 * H, 0), "");
	/* Exit: the clock starts at the exit. */
	assert_int_equal(registry_vehicle_exited(r, "IN 1", T0 + 10 * H), 1);
	assert_int_equal(get(r, "IN 1").inside, 0);
	assert_int_equal(registry_next_due(r), T0 + 11 * H);
	/* In again before expiry: no expiry while inside. */
	assert_int_equal(registry_vehicle_entered(r, "IN 1"), 1);
	assert_int_equal(get(r, "IN 1").inside, 1);
	assert_int_equal(registry_next_due(r), REGISTRY_NEVER);
	assert_string_equal(expire(r, T0 + 12 * H, 0), "");
	assert_int_equal(registry_vehicle_exited(r, "IN 1", T0 + 20 * H), 1);
	assert_string_equal(expire(r, T0 + 21 * H - 1, 0), "");
	assert_string_equal(expire(r, T0 + 21 * H, 0), "IN 1");
	registry_free(r);
}

static void
test_retention_zero(void **state)
{
	registry *r = registry_new(0);

	(void)state;
	/* A vehicle not inside: kept no longer than now. */
	assert_int_equal(reg(r, "OUT 1", "Ann", "+111111", T0, 0, NULL), PK_OK);
	assert_int_equal(registry_next_due(r), T0);
	/* Inside: kept, until the exit. */
	assert_int_equal(reg(r, "IN 1", "Bob", "+222222", T0, 1, NULL), PK_OK);
	assert_string_equal(expire(r, T0, 0), "OUT 1");
	assert_int_equal(registry_next_due(r), REGISTRY_NEVER);
	assert_string_equal(expire(r, T0 + 100 * H, 0), "");
	assert_int_equal(registry_vehicle_exited(r, "IN 1", T0 + 100 * H), 1);
	assert_int_equal(registry_next_due(r), T0 + 100 * H);
	assert_string_equal(expire(r, T0 + 100 * H, 0), "IN 1");
	assert_int_equal(registry_count(r), 0);
	registry_free(r);
}

static void
test_expiry_order_ties_and_max(void **state)
{
	registry *r = registry_new(1);

	(void)state;
	assert_int_equal(reg(r, "C", "c", "+333333", T0, 0, NULL), PK_OK);
	assert_int_equal(reg(r, "A", "a", "+111111", T0 + 10, 0, NULL), PK_OK);
	assert_int_equal(reg(r, "B", "b", "+222222", T0, 0, NULL), PK_OK);
	assert_int_equal(reg(r, "D", "d", "+444444", T0 - 10, 0, NULL), PK_OK);
	assert_int_equal(reg(r, "E", "e", "+555555", T0 - 20, 1, NULL), PK_OK);
	assert_int_equal(registry_next_due(r), T0 - 10 + H);
	/* Expiry order, ties by plate; max bounds one call. */
	assert_string_equal(expire(r, T0 + 2 * H, 2), "D|B");
	assert_int_equal(registry_next_due(r), T0 + H);
	assert_string_equal(expire(r, T0 + 2 * H, 0), "C|A");
	assert_int_equal(registry_count(r), 1);
	assert_int_equal(registry_expire_due(r, T0 + 2 * H, 0, NULL, NULL), 0);
	registry_free(r);
}

static void
test_set_retention(void **state)
{
	registry *r = registry_new(24);
	size_t due = 99;

	(void)state;
	assert_int_equal(reg(r, "A", "a", "+111111", T0, 0, NULL), PK_OK);
	assert_int_equal(reg(r, "B", "b", "+222222", T0 + 2 * H, 0, NULL), PK_OK);
	assert_int_equal(reg(r, "C", "c", "+333333", T0, 1, NULL), PK_OK);
	assert_int_equal(reg(r, "D", "d", "+444444", T0 + H + 1, 0, NULL),
	    PK_OK);
	/* At T0 + 3h, with 2 hours, A is due; B and D are not. */
	registry_set_retention(r, 2, T0 + 3 * H, &due);
	assert_int_equal(registry_retention(r), 2);
	assert_int_equal(due, 1);
	assert_int_equal(registry_check(r), 0);
	assert_int_equal(get(r, "B").expires_at, T0 + 4 * H);
	assert_int_equal(get(r, "C").expires_at, REGISTRY_NEVER);
	/* Longer again: nothing due, nothing lost. */
	registry_set_retention(r, 48, T0 + 3 * H, &due);
	assert_int_equal(due, 0);
	assert_string_equal(expire(r, T0 + 3 * H, 0), "");
	/* 0: everything not inside goes at once, in expiry order. */
	registry_set_retention(r, 0, T0 + 3 * H, &due);
	assert_int_equal(due, 3);
	assert_int_equal(registry_next_due(r), T0);
	assert_string_equal(expire(r, T0 + 3 * H, 0), "A|D|B");
	assert_int_equal(registry_count(r), 1);
	/* Out-of-range values are clamped. */
	registry_set_retention(r, -5, T0, NULL);
	assert_int_equal(registry_retention(r), 0);
	registry_set_retention(r, INT64_MAX, T0, NULL);
	assert_int_equal(registry_retention(r), REGISTRY_RETENTION_MAX_HOURS);
	assert_int_equal(registry_vehicle_exited(r, "C", T0), 1);
	assert_int_equal(registry_next_due(r),
	    T0 + (int64_t)REGISTRY_RETENTION_MAX_HOURS * H);
	assert_int_equal(registry_check(r), 0);
	registry_free(r);
}

/* Times near the end of int64 saturate instead of wrapping. */
static void
test_expiry_saturates(void **state)
{
	registry *r = registry_new(REGISTRY_RETENTION_MAX_HOURS);

	(void)state;
	assert_int_equal(reg(r, "A", "a", "+111111", INT64_MAX - 10, 0, NULL),
	    PK_OK);
	assert_int_equal(registry_next_due(r), REGISTRY_NEVER - 1);
	assert_string_equal(expire(r, INT64_MAX - 11, 0), "");
	registry_free(r);
}

/* ---- listing ---- */

static void
test_list_pages(void **state)
{
	registry *r = registry_new(24);
	struct registry_entry out[REGISTRY_LIST_MAX];
	size_t n;
	int more;

	(void)state;
	assert_int_equal(registry_list(r, NULL, 10, out, &n, &more), PK_OK);
	assert_int_equal(n, 0);
	assert_int_equal(more, 0);
	assert_int_equal(reg(r, "B", "b", "+222222", T0, 0, NULL), PK_OK);
	assert_int_equal(reg(r, "A 1", "a", "+111111", T0, 0, NULL), PK_OK);
	assert_int_equal(reg(r, "A", "a", "+111111", T0, 0, NULL), PK_OK);
	assert_int_equal(reg(r, "A-1", "a", "+111111", T0, 1, NULL), PK_OK);
	assert_int_equal(registry_list(r, NULL, 2, out, &n, &more), PK_OK);
	assert_int_equal(n, 2);
	assert_int_equal(more, 1);
	assert_string_equal(out[0].plate, "A");
	assert_string_equal(out[1].plate, "A 1");
	assert_int_equal(registry_list(r, "A 1", 2, out, &n, &more), PK_OK);
	assert_int_equal(n, 2);
	assert_int_equal(more, 0);
	assert_string_equal(out[0].plate, "A-1");
	assert_int_equal(out[0].inside, 1);
	assert_string_equal(out[1].plate, "B");
	assert_string_equal(out[1].contact_name, "b");
	assert_int_equal(registry_list(r, "B", 2, out, &n, &more), PK_OK);
	assert_int_equal(n, 0);
	assert_int_equal(more, 0);
	assert_int_equal(registry_list(r, "", 1000, out, &n, &more), PK_OK);
	assert_int_equal(n, 4);
	/* A cursor that is not a record, or no longer one, still works. */
	assert_int_equal(registry_list(r, "A 0", 1, out, &n, &more), PK_OK);
	assert_string_equal(out[0].plate, "A 1");
	assert_int_equal(registry_list(r, NULL, 0, out, &n, &more),
	    PK_E_INVALID_PARAMS);
	assert_int_equal(registry_list(r, NULL, 1001, out, &n, &more),
	    PK_E_INVALID_PARAMS);
	assert_int_equal(registry_list(r, "ABCDEFGHIJKLMNOPQ", 1, out, &n, &more),
	    PK_E_INVALID_PARAMS);
	registry_free(r);
}

/*
 * Paging while records come and go between pages: records that exist for
 * the whole listing come exactly once, no record comes twice, and the
 * listing is in plate order.
 */
static void
test_list_stable_under_changes(void **state)
{
	registry *r = registry_new(24);
	struct registry_entry out[7];
	char plate[PLATE_BUFSZ], cursor[PLATE_BUFSZ] = "";
	int seen[600] = { 0 }, pages = 0;
	size_t n;
	int more = 1;

	(void)state;
	for (int i = 0; i < 600; i += 3) {	/* multiples of 3: permanent */
		snprintf(plate, sizeof(plate), "P %04d", i);
		assert_int_equal(reg(r, plate, "x", "+1234567", T0, 0, NULL),
		    PK_OK);
	}
	while (more) {
		assert_int_equal(registry_list(r, cursor, 7, out, &n, &more),
		    PK_OK);
		for (size_t j = 0; j < n; j++) {
			int i = atoi(out[j].plate + 2);

			if (cursor[0] != '\0')
				assert_true(strcmp(out[j].plate, cursor) > 0);
			seen[i]++;
			snprintf(cursor, sizeof(cursor), "%s", out[j].plate);
		}
		pages++;
		/* Others appear and vanish, before and after the cursor. */
		for (int i = 0; i < 600; i++) {
			if (i % 3 == 0)
				continue;
			snprintf(plate, sizeof(plate), "P %04d", i);
			if ((i * 7 + pages) % 5 < 2)
				assert_int_equal(reg(r, plate, "y", "+7654321",
				    T0, 0, NULL), PK_OK);
			else
				registry_delete(r, plate);
		}
		/* And the cursor's own record goes sometimes. */
		if (atoi(cursor + 2) % 3 != 0)
			registry_delete(r, cursor);
	}
	assert_true(pages > 600 / 3 / 7);
	for (int i = 0; i < 600; i++) {
		assert_true(seen[i] <= 1);
		if (i % 3 == 0)
			assert_int_equal(seen[i], 1);
	}
	assert_int_equal(registry_check(r), 0);
	registry_free(r);
}

/* ---- snapshots ---- */

static void
test_snapshot_restore(void **state)
{
	registry *r = registry_new(24), *r2 = registry_new(24);
	struct registry_entry e, e2;
	const void *cur = NULL;
	size_t count = 0;

	(void)state;
	assert_int_equal(reg(r, "A", "Ann", "+111111", T0, 0, NULL), PK_OK);
	assert_int_equal(reg(r, "B", "Zoë", "+222222", T0 + 5, 1, NULL), PK_OK);
	assert_int_equal(reg(r, "C", "Cy", "+333333", T0 - 30 * H, 0, NULL),
	    PK_OK);
	assert_int_equal(reg(r, "A", "Ann B", "+111112", T0 + 9, 0, NULL), PK_OK);
	assert_int_equal(registry_vehicle_exited(r, "A", T0 + 60), 1);
	while (registry_next(r, &cur, &e)) {
		assert_int_equal(registry_restore(r2, &e), PK_OK);
		count++;
	}
	assert_int_equal(count, 3);
	assert_int_equal(registry_next(r, &cur, &e), 0);	/* stays done */
	assert_int_equal(registry_count(r2), 3);
	assert_int_equal(registry_check(r2), 0);
	cur = NULL;
	while (registry_next(r, &cur, &e)) {
		e2 = get(r2, e.plate);
		assert_string_equal(e2.contact_name, e.contact_name);
		assert_int_equal(e2.contact_len, e.contact_len);
		assert_string_equal(e2.phone, e.phone);
		assert_int_equal(e2.registered_at, e.registered_at);
		assert_int_equal(e2.updated_at, e.updated_at);
		assert_int_equal(e2.last_exit_at, e.last_exit_at);
		assert_int_equal(e2.expires_at, e.expires_at);
		assert_int_equal(e2.inside, e.inside);
	}
	/* What expired while the daemon was down goes at the first expiry. */
	assert_string_equal(expire(r2, T0, 0), "C");
	/* Restoring over an existing record replaces it; bad input is refused. */
	e = get(r, "A");
	e.contact_name = "Other";
	e.contact_len = 5;
	e.registered_at = 1;
	assert_int_equal(registry_restore(r2, &e), PK_OK);
	assert_string_equal(get(r2, "A").contact_name, "Other");
	assert_int_equal(get(r2, "A").registered_at, 1);
	e.phone = "12";
	assert_int_equal(registry_restore(r2, &e), PK_E_INVALID_PARAMS);
	e.phone = "+111111";
	e.plate = "a";
	assert_int_equal(registry_restore(r2, &e), PK_E_INVALID_PARAMS);
	assert_int_equal(registry_restore(r2, NULL), PK_E_INVALID_PARAMS);
	assert_int_equal(registry_check(r2), 0);
	registry_free(r);
	registry_free(r2);
	assert_int_equal(fa_live, 0);
}

/* ---- personal data is wiped ---- */

static void
test_harness_sees_unwiped_blocks(void **state)
{
	char *p = fa_malloc(64);

	(void)state;
	fa_add_secret("+49301234567");
	snprintf(p, 64, "phone +49301234567 here");
	fa_free(p);
	assert_int_equal(fa_secret_hits, 1);
}

static void
test_contact_data_is_wiped(void **state)
{
	registry *r = registry_new(1);
	const char *cur;

	(void)state;
	fa_add_secret("Jane Secretname");
	fa_add_secret("+49301234567");
	fa_add_secret("Old Secretname");
	fa_add_secret("+15550100999");
	/* Update: the old contact is wiped as it is replaced. */
	assert_int_equal(reg(r, "W 1", "Old Secretname", "+1 555 0100 999", T0,
	    0, NULL), PK_OK);
	assert_int_equal(reg(r, "W 1", "Jane Secretname", "+49 30 1234567", T0,
	    0, NULL), PK_OK);
	/* Delete, expiry, purge, free. */
	assert_int_equal(registry_delete(r, "W 1"), PK_OK);
	assert_int_equal(reg(r, "W 2", "Jane Secretname", "+49 30 1234567", T0,
	    0, NULL), PK_OK);
	cur = expire(r, T0 + H, 0);
	assert_string_equal(cur, "W 2");
	assert_int_equal(reg(r, "W 3", "Jane Secretname", "+49 30 1234567", T0,
	    1, NULL), PK_OK);
	assert_int_equal(reg(r, "W 4", "Old Secretname", "+1 555 0100 999", T0,
	    0, NULL), PK_OK);
	assert_int_equal(registry_purge(r), 2);
	assert_int_equal(reg(r, "W 5", "Jane Secretname", "+49 30 1234567", T0,
	    0, NULL), PK_OK);
	/* A failed registration wipes the copy it made. */
	fa_fail_after(1);
	assert_int_equal(reg(r, "W 6", "Old Secretname", "+1 555 0100 999", T0,
	    0, NULL), PK_E_INTERNAL);
	fa_fail_after(-1);
	registry_free(r);
	assert_int_equal(fa_live, 0);
	assert_int_equal(fa_secret_hits, 0);
}

/* ---- allocation failure ---- */

/* Everything observable about r, as text. */
static const char *
dump(const registry *r)
{
	static char buf[8192];
	struct registry_entry e;
	const void *cur = NULL;
	size_t len = 0;

	len += (size_t)snprintf(buf, sizeof(buf), "n=%zu due=%lld ret=%lld;",
	    registry_count(r), (long long)registry_next_due(r),
	    (long long)registry_retention(r));
	while (registry_next(r, &cur, &e))
		len += (size_t)snprintf(buf + len, sizeof(buf) - len,
		    "%s,%s,%s,%lld,%lld,%lld,%lld,%d;", e.plate, e.contact_name,
		    e.phone, (long long)e.registered_at, (long long)e.updated_at,
		    (long long)e.last_exit_at, (long long)e.expires_at, e.inside);
	return buf;
}

static void
test_out_of_memory_changes_nothing(void **state)
{
	registry *r = registry_new(24);
	char before[8192], plate[PLATE_BUFSZ];
	int failures = 0;

	(void)state;
	/* 64 records: the heap's capacity, so that the next one grows it. */
	for (int i = 0; i < 64; i++) {
		snprintf(plate, sizeof(plate), "R %02d", i);
		assert_int_equal(reg(r, plate, "n", "+1234567", T0 + i, i % 2,
		    NULL), PK_OK);
	}
	for (int op = 0; op < 3; op++) {
		for (long k = 0;; k++) {
			struct registry_entry e;
			pk_err err;

			snprintf(before, sizeof(before), "%s", dump(r));
			fa_fail_after(k);
			memset(&e, 0, sizeof(e));
			if (op == 0) {		/* a new record */
				err = reg(r, "NEW 1", "New", "+7654321", T0, 0,
				    NULL);
			} else if (op == 1) {	/* an update */
				err = reg(r, "R 07", "Changed", "+7654321",
				    T0 + 100, 0, NULL);
			} else {		/* a restore */
				e.plate = "REST 1";
				e.contact_name = "Rest";
				e.contact_len = 4;
				e.phone = "+7654321";
				e.updated_at = T0;
				err = registry_restore(r, &e);
			}
			fa_fail_after(-1);
			assert_int_equal(registry_check(r), 0);
			if (err == PK_OK)
				break;
			assert_int_equal(err, PK_E_INTERNAL);
			assert_string_equal(dump(r), before);
			failures++;
		}
		/* More records between the operations. */
		for (int i = op * 30; i < 30 + op * 30; i++) {
			snprintf(plate, sizeof(plate), "S %03d", i);
			assert_int_equal(reg(r, plate, "n", "+1234567", T0, 0,
			    NULL), PK_OK);
		}
	}
	/*
	 * New: name, heap, the array of all records, record (the arrays'
	 * growth, not state, is kept after the record's allocation failed, so
	 * the map node's turn comes with the restore); update: name; restore:
	 * name, record, map node.
	 */
	assert_int_equal(failures, 8);
	fa_fail_after(0);
	assert_null(registry_new(24));
	fa_fail_after(1);
	assert_null(registry_new(24));
	fa_fail_after(-1);
	registry_free(r);
	assert_int_equal(fa_live, 0);
}

/* ---- a randomized comparison with a plain model ---- */

static uint64_t rng_state;

static uint64_t
rng(void)
{
	return tu_rng(&rng_state);
}

#define NP 40
struct mrec {
	int present, inside;
	int64_t updated, last_exit;
	char name[16];
};

static int64_t
m_expiry(const struct mrec *m, int64_t ret)
{
	int64_t base = m->updated > m->last_exit ? m->updated : m->last_exit;

	return m->inside ? REGISTRY_NEVER : base + ret * H;
}

static void
run_model(uint64_t seed, int ops)
{
	registry *r = registry_new(2);
	struct mrec m[NP];
	int64_t now = T0, ret = 2;
	char plate[PLATE_BUFSZ];

	rng_state = seed;
	memset(m, 0, sizeof(m));
	for (int op = 0; op < ops; op++) {
		int p = (int)(rng() % NP);
		unsigned what = (unsigned)(rng() % 100);

		snprintf(plate, sizeof(plate), "M %02d", p);
		now += (int64_t)(rng() % 900);
		if (rng() % 50 == 0)	/* the wall clock stepped back */
			now -= (int64_t)(rng() % 20000);
		if (what < 30) {			/* register */
			int inside = (int)(rng() % 2), created;

			snprintf(m[p].name, sizeof(m[p].name), "n%d", op);
			assert_int_equal(reg(r, plate, m[p].name, "+1234567",
			    now, inside, &created), PK_OK);
			assert_int_equal(created, !m[p].present);
			if (!m[p].present)
				m[p].last_exit = 0;
			m[p].present = 1;
			m[p].inside = inside;
			m[p].updated = now;
		} else if (what < 40) {			/* delete */
			assert_int_equal(registry_delete(r, plate),
			    m[p].present ? PK_OK : PK_E_NOT_FOUND);
			m[p].present = 0;
		} else if (what < 55) {			/* entered */
			assert_int_equal(registry_vehicle_entered(r, plate),
			    m[p].present);
			m[p].inside = 1;
		} else if (what < 70) {			/* exited */
			int64_t at = now - (int64_t)(rng() % 3000);

			assert_int_equal(registry_vehicle_exited(r, plate, at),
			    m[p].present);
			m[p].inside = 0;
			if (at > m[p].last_exit)
				m[p].last_exit = at;
		} else if (what < 73) {			/* set retention */
			size_t due, want = 0;

			ret = (int64_t)(rng() % 4);
			registry_set_retention(r, ret, now, &due);
			for (int i = 0; i < NP; i++)
				if (m[i].present && !m[i].inside &&
				    m_expiry(&m[i], ret) <= now)
					want++;
			assert_int_equal(due, want);
		} else {				/* expire */
			char want[4096] = "";
			size_t wl = 0;
			int done[NP] = { 0 };

			/* The model: repeatedly the smallest (expiry, plate). */
			for (;;) {
				int best = -1;

				for (int i = 0; i < NP; i++) {
					if (!m[i].present || done[i] ||
					    m_expiry(&m[i], ret) > now)
						continue;
					if (best < 0 || m_expiry(&m[i], ret) <
					    m_expiry(&m[best], ret))
						best = i;
				}
				if (best < 0)
					break;
				done[best] = 1;
				wl += (size_t)snprintf(want + wl, sizeof(want) - wl,
				    "%sM %02d", wl > 0 ? "|" : "", best);
			}
			assert_string_equal(expire(r, now, 0), want);
			for (int i = 0; i < NP; i++)
				if (done[i])
					m[i].present = 0;
		}
		/* Every record as the model has it. */
		for (int i = 0; i < NP; i++) {
			struct registry_entry e;

			snprintf(plate, sizeof(plate), "M %02d", i);
			if (!m[i].present) {
				assert_int_equal(registry_get(r, plate, &e),
				    PK_E_NOT_FOUND);
				continue;
			}
			assert_int_equal(registry_get(r, plate, &e), PK_OK);
			assert_string_equal(e.contact_name, m[i].name);
			assert_int_equal(e.inside, m[i].inside);
			assert_int_equal(e.updated_at, m[i].updated);
			assert_int_equal(e.last_exit_at, m[i].last_exit);
			assert_int_equal(e.expires_at, m_expiry(&m[i], ret));
		}
		/* The array walk meets every record once, and no other. */
		{
			int seen[NP] = { 0 }, want = 0;

			for (int i = 0; i < NP; i++)
				want += m[i].present;
			assert_int_equal(registry_count(r), (size_t)want);
			for (size_t i = 0; i < registry_count(r); i++) {
				struct registry_entry e;
				int at;

				registry_entry_at(r, i, &e);
				assert_int_equal(sscanf(e.plate, "M %d", &at), 1);
				assert_true(at >= 0 && at < NP && m[at].present);
				assert_int_equal(seen[at]++, 0);
				assert_string_equal(e.contact_name, m[at].name);
			}
		}
		if (op % 50 == 0)
			assert_int_equal(registry_check(r), 0);
	}
	registry_free(r);
	assert_int_equal(fa_live, 0);
}

static void
test_model_seeds(void **state)
{
	static const uint64_t seeds[] = { 1, 99, 0xdeadbeefULL, 20261123 };

	(void)state;
	for (size_t s = 0; s < sizeof(seeds) / sizeof(seeds[0]); s++)
		run_model(seeds[s], 5000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_name_validation, fa_reset),
		cmocka_unit_test_setup(test_phone_normalisation, fa_reset),
		cmocka_unit_test_setup(test_register_get_update, fa_reset),
		cmocka_unit_test_setup(test_register_refuses_bad_input, fa_reset),
		cmocka_unit_test_setup(test_delete_and_purge, fa_reset),
		cmocka_unit_test_setup(test_expiry_after_update_and_exit, fa_reset),
		cmocka_unit_test_setup(test_inside_never_expires, fa_reset),
		cmocka_unit_test_setup(test_retention_zero, fa_reset),
		cmocka_unit_test_setup(test_expiry_order_ties_and_max, fa_reset),
		cmocka_unit_test_setup(test_set_retention, fa_reset),
		cmocka_unit_test_setup(test_expiry_saturates, fa_reset),
		cmocka_unit_test_setup(test_list_pages, fa_reset),
		cmocka_unit_test_setup(test_list_stable_under_changes, fa_reset),
		cmocka_unit_test_setup(test_snapshot_restore, fa_reset),
		cmocka_unit_test_setup(test_harness_sees_unwiped_blocks, fa_reset),
		cmocka_unit_test_setup(test_contact_data_is_wiped, fa_reset),
		cmocka_unit_test_setup(test_out_of_memory_changes_nothing, fa_reset),
		cmocka_unit_test_setup(test_model_seeds, fa_reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
