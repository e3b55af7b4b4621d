/* test_regops.c - unit tests of the registry's operations as changes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "garage.h"
#include "regops.h"

#define H 3600
#define T0 ((int64_t)1795428000)

static pk_err
reg(registry *r, const char *plate, const char *name, const char *phone,
    int64_t now, int *created, struct changes *ch)
{
	return regops_register(r, plate, name, strlen(name), phone, strlen(phone),
	    now, 0, created, ch);
}

static void
test_register_and_update(void **state)
{
	registry *r = registry_new(24);
	struct changes ch;
	int created = -1;

	(void)state;
	changes_init(&ch);
	assert_int_equal(reg(r, "AB 1", "Ann", "+4912345678", T0, &created, &ch), PK_OK);
	assert_int_equal(created, 1);
	assert_int_equal(ch.n, 1);
	assert_int_equal(ch.v[0].kind, CHG_VEHICLE_REGISTERED);
	assert_string_equal(ch.v[0].plate, "AB 1");
	assert_int_equal(ch.v[0].at, T0);
	assert_true(regops_is_registry(&ch.v[0]));
	assert_false(regops_erases(&ch.v[0]));

	/* The same contact again, in another spelling: an update that erases nothing. */
	changes_clear(&ch);
	assert_int_equal(reg(r, "AB 1", "Ann", "+49 1234-5678", T0 + H, &created, &ch), PK_OK);
	assert_int_equal(created, 0);
	assert_int_equal(ch.v[0].kind, CHG_VEHICLE_UPDATED);
	assert_int_equal(ch.v[0].n, 0);
	assert_false(regops_erases(&ch.v[0]));

	/* A new phone replaces the old one: that one must leave the disk. */
	changes_clear(&ch);
	assert_int_equal(reg(r, "AB 1", "Ann", "+4987654321", T0 + H, NULL, &ch), PK_OK);
	assert_int_equal(ch.v[0].n, 1);
	assert_true(regops_erases(&ch.v[0]));
	changes_clear(&ch);
	assert_int_equal(reg(r, "AB 1", "Anne", "+4987654321", T0 + H, NULL, &ch), PK_OK);
	assert_int_equal(ch.v[0].n, 1);

	/* Refusals change nothing and append nothing. */
	changes_clear(&ch);
	assert_int_equal(reg(r, "AB 1", "", "+4987654321", T0, NULL, &ch), PK_E_INVALID_PARAMS);
	assert_int_equal(reg(r, "AB 1", "Ann", "12345678", T0, NULL, &ch), PK_E_INVALID_PARAMS);
	assert_int_equal(reg(r, "ab 1", "Ann", "+4912345678", T0, NULL, &ch), PK_E_INVALID_PARAMS);
	assert_int_equal(ch.n, 0);
	assert_int_equal(registry_count(r), 1);
	changes_release(&ch);
	registry_free(r);
}

static void
test_delete_purge_retention(void **state)
{
	registry *r = registry_new(24);
	struct changes ch;

	(void)state;
	changes_init(&ch);
	assert_int_equal(regops_delete(r, "AB 1", T0, &ch), PK_E_NOT_FOUND);
	assert_int_equal(ch.n, 0);
	reg(r, "AB 1", "Ann", "+4912345678", T0, NULL, &ch);
	reg(r, "CD 2", "Bob", "+4912345678", T0, NULL, &ch);
	reg(r, "EF 3", "Cy", "+4912345678", T0, NULL, &ch);
	changes_clear(&ch);
	assert_int_equal(regops_delete(r, "CD 2", T0, &ch), PK_OK);
	assert_int_equal(ch.v[0].kind, CHG_VEHICLE_DELETED);
	assert_string_equal(ch.v[0].plate, "CD 2");
	assert_true(regops_erases(&ch.v[0]));

	changes_clear(&ch);
	assert_int_equal(regops_set_retention(r, 24, T0, &ch), PK_OK);
	assert_int_equal(ch.n, 0);
	assert_int_equal(regops_set_retention(r, -1, T0, &ch), PK_E_INVALID_PARAMS);
	assert_int_equal(regops_set_retention(r, REGISTRY_RETENTION_MAX_HOURS + 1,
	    T0, &ch), PK_E_INVALID_PARAMS);
	assert_int_equal(regops_set_retention(r, 0, T0, &ch), PK_OK);
	assert_int_equal(ch.n, 1);
	assert_int_equal(ch.v[0].kind, CHG_REGISTRY_RETENTION);
	assert_int_equal(ch.v[0].n, 0);
	assert_false(regops_erases(&ch.v[0]));
	/* Retention 0: both records are due at once, deleted by the next expiry. */
	assert_int_equal(registry_count(r), 2);
	assert_true(registry_next_due(r) <= T0);

	changes_clear(&ch);
	assert_int_equal(regops_purge(r, T0, &ch), PK_OK);
	assert_int_equal(ch.v[0].kind, CHG_REGISTRY_PURGED);
	assert_int_equal(ch.v[0].n, 2);
	assert_true(regops_erases(&ch.v[0]));
	assert_int_equal(registry_count(r), 0);
	changes_release(&ch);
	registry_free(r);
}

static void
test_expire_in_bounded_steps(void **state)
{
	registry *r = registry_new(1);
	struct changes ch;
	char plate[8];

	(void)state;
	changes_init(&ch);
	for (int i = 0; i < 5; i++) {
		snprintf(plate, sizeof(plate), "P%d", i);
		reg(r, plate, "Ann", "+4912345678", T0 + i, NULL, &ch);
	}
	changes_clear(&ch);
	assert_int_equal(regops_expire(r, T0 + H - 1, 10, &ch), 0);
	assert_int_equal(ch.n, 0);
	assert_int_equal(regops_expire(r, T0 + H + 3, 2, &ch), 2);
	assert_int_equal(ch.n, 2);
	assert_string_equal(ch.v[0].plate, "P0");
	assert_string_equal(ch.v[1].plate, "P1");
	assert_int_equal(ch.v[0].kind, CHG_VEHICLE_EXPIRED);
	assert_int_equal(ch.v[0].at, T0 + H + 3);
	assert_true(regops_erases(&ch.v[0]));
	changes_clear(&ch);
	assert_int_equal(regops_expire(r, T0 + H + 3, 10, &ch), 2);
	assert_int_equal(registry_count(r), 1);
	assert_int_equal(regops_expire(r, T0 + H + 3, 0, &ch), 0);
	changes_release(&ch);
	registry_free(r);
}

/*
 * A record past its expiry is gone even before the timer deletes it: a
 * longer retention does not bring it back, and registering its plate
 * starts a new record (registry.md: expired records are deleted).
 */
static void
test_expired_stays_expired(void **state)
{
	registry *r = registry_new(24);
	struct registry_entry e;
	struct changes ch;
	int created = -1;

	(void)state;
	changes_init(&ch);
	assert_int_equal(reg(r, "KEEP", "Ann", "+4912345678", T0, NULL, &ch), PK_OK);
	assert_int_equal(reg(r, "LATER", "Cy", "+4912345670", T0 + 2 * H, NULL, &ch), PK_OK);
	changes_clear(&ch);
	/* 0 hours: both are due; 24 again before the timer ran: both go first. */
	assert_int_equal(regops_set_retention(r, 0, T0 + 3 * H, &ch), PK_OK);
	assert_int_equal(ch.n, 1);
	assert_int_equal(regops_set_retention(r, 24, T0 + 3 * H + 1, &ch), PK_OK);
	assert_int_equal(ch.n, 4);
	assert_int_equal(ch.v[1].kind, CHG_VEHICLE_EXPIRED);
	assert_string_equal(ch.v[1].plate, "KEEP");
	assert_int_equal(ch.v[2].kind, CHG_VEHICLE_EXPIRED);
	assert_string_equal(ch.v[2].plate, "LATER");
	assert_int_equal(ch.v[3].kind, CHG_REGISTRY_RETENTION);
	assert_int_equal(registry_count(r), 0);
	changes_clear(&ch);

	/* 1 hour: KEEP is due two hours later; registering it starts anew. */
	assert_int_equal(reg(r, "KEEP", "Ann", "+4912345678", T0 + 4 * H, NULL, &ch), PK_OK);
	assert_int_equal(regops_set_retention(r, 1, T0 + 4 * H, &ch), PK_OK);
	changes_clear(&ch);
	assert_int_equal(reg(r, "KEEP", "Ann", "+4912345678", T0 + 6 * H, &created, &ch), PK_OK);
	assert_int_equal(created, 1);
	assert_int_equal(ch.n, 2);
	assert_int_equal(ch.v[0].kind, CHG_VEHICLE_EXPIRED);
	assert_true(regops_erases(&ch.v[0]));
	assert_int_equal(ch.v[1].kind, CHG_VEHICLE_REGISTERED);
	assert_int_equal(registry_get(r, "KEEP", &e), PK_OK);
	assert_int_equal(e.expires_at, T0 + 7 * H);
	/* Shorter retentions expire nothing themselves: the timer does. */
	changes_clear(&ch);
	assert_int_equal(regops_set_retention(r, 0, T0 + 6 * H, &ch), PK_OK);
	assert_int_equal(ch.n, 1);
	assert_int_equal(registry_count(r), 1);
	changes_release(&ch);
	registry_free(r);
}

static void
test_follow_entries_and_exits(void **state)
{
	registry *r = registry_new(2);
	struct ticket *t = calloc(1, sizeof(*t)), *u = calloc(1, sizeof(*u));
	struct registry_entry e;
	struct change c;
	struct changes ch;

	(void)state;
	assert_non_null(t);
	assert_non_null(u);
	changes_init(&ch);
	reg(r, "AB 1", "Ann", "+4912345678", T0, NULL, &ch);
	snprintf(t->plate, sizeof(t->plate), "AB 1");
	snprintf(u->plate, sizeof(u->plate), "ZZ 9");
	memset(&c, 0, sizeof(c));
	c.kind = CHG_ENTRY;
	c.t = t;
	assert_int_equal(regops_follow(r, &c), 1);
	assert_int_equal(registry_get(r, "AB 1", &e), PK_OK);
	assert_true(e.inside);
	c.t = u;
	assert_int_equal(regops_follow(r, &c), 0);
	c.kind = CHG_EXIT;
	c.t = t;
	t->exited_at = T0 + 5 * H;
	assert_int_equal(regops_follow(r, &c), 1);
	assert_int_equal(registry_get(r, "AB 1", &e), PK_OK);
	assert_false(e.inside);
	assert_int_equal(e.expires_at, T0 + 7 * H);
	c.kind = CHG_PAY;
	assert_int_equal(regops_follow(r, &c), 0);
	assert_false(regops_is_registry(&c));
	changes_release(&ch);
	registry_free(r);
	free(t);
	free(u);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_register_and_update),
		cmocka_unit_test(test_delete_purge_retention),
		cmocka_unit_test(test_expire_in_bounded_steps),
		cmocka_unit_test(test_expired_stays_expired),
		cmocka_unit_test(test_follow_entries_and_exits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
