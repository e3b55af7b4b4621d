/*
 * test_contacts.c - unit tests of the contact store's records: what each
 * change writes, images, replay (through lib/sidelog.h as the daemon reads
 * the store) against the registry that made them, refusals that never
 * quote a contact, and the inside flags taken from the garage.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "contacts.h"
#include "regops.h"
#include "sidelog.h"
#include "testutil.h"
#include "wal.h"

#define H 3600
#define T0 ((int64_t)1795428000)	/* 2026-11-23T10:00:00Z */

/* A store as the journal keeps it: an image and a log of side records. */
struct store {
	struct wal_buf img, log;
	uint64_t lsn;			/* the last main LSN */
	int64_t config;
};

static void
store_free(struct store *st)
{
	wal_buf_free(&st->img);
	wal_buf_free(&st->log);
}

/* Commits changes as the daemon does: follow, then the side record. */
static void
commit(struct store *st, registry *r, const struct changes *ch)
{
	struct jw w;

	jw_init(&w);
	for (size_t i = 0; i < ch->n; i++) {
		st->lsn++;
		regops_follow(r, &ch->v[i]);
		jw_reset(&w);
		contacts_side_write(r, &ch->v[i], st->config, &w);
		assert_false(jw_failed(&w));
		if (w.len > 0)
			assert_int_equal(wal_buf_add(&st->log, st->lsn, w.buf, w.len), 0);
	}
	jw_release(&w);
}

static int
image_add(void *ud, const char *p, size_t len)
{
	struct store *st = ud;

	return wal_buf_add(&st->img, st->lsn, p, len);
}

/* A rewrite: the image of r at the last LSN, and an empty log. */
static void
rewrite(struct store *st, const registry *r)
{
	st->img.len = 0;
	assert_int_equal(contacts_image(r, st->config, image_add, st), 0);
	st->log.len = 0;
}

struct loader {
	registry *r;
	struct contacts_meta m;
};

static int
load_one(void *ud, uint64_t lsn, int from_image, const char *p, size_t len,
    char *err, size_t errlen)
{
	struct loader *l = ud;
	struct jerr e = { err, errlen, 0 };

	(void)lsn;
	return contacts_apply(l->r, &l->m, from_image, p, len, &e) == PK_OK ? 0 : -1;
}

/* Reads st back into a new registry (retention as reset gives it). */
static registry *
load(const struct store *st, int64_t reset_hours, struct contacts_meta *m)
{
	struct loader l = { registry_new(reset_hours), { 0, 0, 0, 0 } };
	struct sidelog_result res;
	char err[300] = "";
	struct jerr e = { err, sizeof(err), 0 };

	assert_non_null(l.r);
	contacts_meta_init(&l.m);
	if (sidelog_read(st->img.data, st->img.len, st->log.data, st->log.len,
	    st->lsn, load_one, &l, &res, err, sizeof(err)) != 0)
		fail_msg("store refused: %s", err);
	if (contacts_image_complete(&l.m, &e) != 0)
		fail_msg("image incomplete: %s", err);
	if (m != NULL)
		*m = l.m;
	return l.r;
}

/* Every record of a equals b's, field by field (inside from a). */
static void
assert_same(const registry *a, registry *b)
{
	const void *ca = NULL, *cb = NULL;
	struct registry_entry ea, eb;

	assert_int_equal(registry_count(a), registry_count(b));
	assert_int_equal(registry_retention(a), registry_retention(b));
	/* The store keeps no inside flags: the garage gives them. */
	while (registry_next(a, &ca, &ea))
		if (ea.inside)
			registry_vehicle_entered(b, ea.plate);
	ca = NULL;
	while (registry_next(a, &ca, &ea)) {
		assert_true(registry_next(b, &cb, &eb));
		assert_string_equal(ea.plate, eb.plate);
		assert_int_equal(ea.contact_len, eb.contact_len);
		assert_memory_equal(ea.contact_name, eb.contact_name, ea.contact_len);
		assert_string_equal(ea.phone, eb.phone);
		assert_int_equal(ea.registered_at, eb.registered_at);
		assert_int_equal(ea.updated_at, eb.updated_at);
		assert_int_equal(ea.last_exit_at, eb.last_exit_at);
		assert_int_equal(ea.inside, eb.inside);
		assert_int_equal(ea.expires_at, eb.expires_at);
	}
	assert_false(registry_next(b, &cb, &eb));
	assert_int_equal(registry_check(b), 0);
}

/* The one record of the log as text. */
static char *
only_record(const struct store *st, uint64_t *lsn)
{
	struct wal_rec rec;
	size_t off = 0;
	char *s;

	assert_int_equal(wal_next(st->log.data, st->log.len, &off, &rec), WAL_OK);
	assert_int_equal(off, st->log.len);
	*lsn = rec.lsn;
	s = malloc(rec.len + 1);
	assert_non_null(s);
	memcpy(s, rec.payload, rec.len);
	s[rec.len] = '\0';
	return s;
}

/* A ticket as a change names it (only its plate and exit time are read). */
static struct ticket *
fake_ticket(const char *plate, int64_t exited_at)
{
	struct ticket *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	snprintf(t->plate, sizeof(t->plate), "%s", plate);
	t->exited_at = exited_at;
	return t;
}

static void
vehicle(struct changes *ch, enum change_kind k, const struct ticket *t,
    int64_t at)
{
	struct change c;

	memset(&c, 0, sizeof(c));
	c.kind = k;
	c.at = at;
	c.t = t;
	assert_int_equal(changes_reserve(ch, 1), 0);
	changes_add(ch, &c);
}

/* ---- what each change writes ---- */

static void
test_side_record_of_each_change(void **state)
{
	struct store st = { .config = 24 };
	registry *r = registry_new(24);
	struct ticket *t = fake_ticket("AB 1", T0 + 2 * H);
	struct changes ch;
	uint64_t lsn;
	char *s;

	(void)state;
	changes_init(&ch);
	assert_int_equal(regops_register(r, "AB 1", "Erika M\xc3\xbcller", 13,
	    "+49 170-555.0123", 16, T0, 0, NULL, &ch), PK_OK);
	commit(&st, r, &ch);
	s = only_record(&st, &lsn);
	assert_int_equal(lsn, 1);
	assert_string_equal(s, "{\"op\":\"put\",\"plate\":\"AB 1\",\"contact_name\":"
	    "\"Erika M\xc3\xbcller\",\"phone\":\"+491705550123\",\"registered_at\":"
	    "1795428000,\"updated_at\":1795428000,\"last_exit_at\":0}");
	free(s);

	st.log.len = 0;
	changes_clear(&ch);
	vehicle(&ch, CHG_EXIT, t, T0 + 2 * H);
	commit(&st, r, &ch);
	s = only_record(&st, &lsn);
	assert_string_equal(s, "{\"op\":\"exit\",\"plate\":\"AB 1\",\"at\":1795435200}");
	free(s);

	/* An entry writes nothing: whether a vehicle is inside is the garage's. */
	st.log.len = 0;
	changes_clear(&ch);
	vehicle(&ch, CHG_ENTRY, t, T0 + 3 * H);
	commit(&st, r, &ch);
	assert_int_equal(st.log.len, 0);
	assert_int_equal(registry_next_due(r), REGISTRY_NEVER);

	changes_clear(&ch);
	assert_int_equal(regops_set_retention(r, 5, T0, &ch), PK_OK);
	commit(&st, r, &ch);
	s = only_record(&st, &lsn);
	assert_string_equal(s, "{\"op\":\"retention\",\"hours\":5,\"config\":24}");
	free(s);

	st.log.len = 0;
	changes_clear(&ch);
	assert_int_equal(regops_delete(r, "AB 1", T0, &ch), PK_OK);
	commit(&st, r, &ch);
	s = only_record(&st, &lsn);
	assert_string_equal(s, "{\"op\":\"del\",\"plate\":\"AB 1\"}");
	free(s);

	st.log.len = 0;
	changes_clear(&ch);
	assert_int_equal(regops_purge(r, T0, &ch), PK_OK);
	commit(&st, r, &ch);
	s = only_record(&st, &lsn);
	assert_string_equal(s, "{\"op\":\"purge\"}");
	free(s);

	/* Changes of the garage with no plate on record write nothing. */
	st.log.len = 0;
	changes_clear(&ch);
	vehicle(&ch, CHG_EXIT, t, T0 + 4 * H);
	vehicle(&ch, CHG_LOST, t, T0 + 4 * H);
	commit(&st, r, &ch);
	assert_int_equal(st.log.len, 0);

	changes_release(&ch);
	registry_free(r);
	free(t);
	store_free(&st);
}

static void
test_image_and_replay(void **state)
{
	struct store st = { .config = 24 };
	registry *r = registry_new(24), *b;
	struct ticket *t = fake_ticket("CD 2", T0 + H);
	struct contacts_meta m;
	struct changes ch;

	(void)state;
	changes_init(&ch);
	assert_int_equal(regops_register(r, "AB 1", "Ann", 3, "+4411111111", 11,
	    T0, 0, NULL, &ch), PK_OK);
	assert_int_equal(regops_register(r, "CD 2", "Bob", 3, "+4422222222", 11,
	    T0, 1, NULL, &ch), PK_OK);
	commit(&st, r, &ch);
	changes_clear(&ch);
	vehicle(&ch, CHG_EXIT, t, T0 + H);
	assert_int_equal(regops_set_retention(r, 48, T0 + H, &ch), PK_OK);
	commit(&st, r, &ch);

	/* From the log alone, then from an image, then an image and a log. */
	b = load(&st, 24, &m);
	assert_same(r, b);
	assert_int_equal(m.config_hours, 24);
	registry_free(b);

	rewrite(&st, r);
	b = load(&st, 24, &m);
	assert_same(r, b);
	assert_int_equal(m.image_expect, 2);
	registry_free(b);

	changes_clear(&ch);
	assert_int_equal(regops_register(r, "AB 1", "Ann Other", 9, "+4433333333",
	    11, T0 + 2 * H, 0, NULL, &ch), PK_OK);
	assert_int_equal(regops_delete(r, "CD 2", T0 + 2 * H, &ch), PK_OK);
	commit(&st, r, &ch);
	b = load(&st, 24, NULL);
	assert_same(r, b);
	registry_free(b);

	changes_release(&ch);
	registry_free(r);
	free(t);
	store_free(&st);
}

/*
 * A registry driven at random through regops, its store rewritten now and
 * then: read back at any point, the store gives the same registry.
 */
static void
test_replay_model(void **state)
{
	static const char *const names[] = { "Ann", "Bob Bobson", "Chlo\xc3\xa9",
	    "\xe5\xb1\xb1\xe7\x94\xb0 \xe5\xa4\xaa\xe9\x83\x8e" };
	static const char *const phones[] = { "+4411111111", "+1 555 0100",
	    "+33-6-12-34-56-78", "+81.90.1234.5678" };
	struct ticket *tickets[8];
	int inside[8] = { 0 };

	(void)state;
	for (int i = 0; i < 8; i++) {
		char p[8];

		snprintf(p, sizeof(p), "P%d", i);
		tickets[i] = fake_ticket(p, 0);
	}
	for (unsigned seed = 1; seed <= 40; seed++) {
		struct store st = { .config = 6 };
		registry *r = registry_new(6);
		struct changes ch;
		int64_t now = T0;

		srand(seed);
		changes_init(&ch);
		memset(inside, 0, sizeof(inside));
		for (int step = 0; step < 300; step++) {
			int k = rand() % 100, p = rand() % 8;
			const char *nm = names[rand() % 4];
			const char *ph = phones[rand() % 4];

			now += rand() % (2 * H);
			changes_clear(&ch);
			if (k < 35) {
				regops_register(r, tickets[p]->plate, nm, strlen(nm),
				    ph, strlen(ph), now, inside[p], NULL, &ch);
			} else if (k < 50) {
				vehicle(&ch, inside[p] ? CHG_EXIT : CHG_ENTRY,
				    tickets[p], now);
				tickets[p]->exited_at = now;
				inside[p] = !inside[p];
			} else if (k < 60) {
				regops_delete(r, tickets[p]->plate, now, &ch);
			} else if (k < 62) {
				regops_purge(r, now, &ch);
			} else if (k < 67) {
				regops_set_retention(r, rand() % 4, now, &ch);
			} else if (k < 90) {
				regops_expire(r, now, 1 + (size_t)(rand() % 3), &ch);
			} else if (k < 95) {
				rewrite(&st, r);
			} else {
				registry *b = load(&st, 6, NULL);

				assert_same(r, b);
				registry_free(b);
			}
			commit(&st, r, &ch);
			assert_int_equal(registry_check(r), 0);
		}
		{
			registry *b = load(&st, 6, NULL);

			assert_same(r, b);
			registry_free(b);
		}
		changes_release(&ch);
		registry_free(r);
		store_free(&st);
	}
	for (int i = 0; i < 8; i++)
		free(tickets[i]);
}

/* ---- refusals ---- */

static pk_err
apply_text(registry *r, struct contacts_meta *m, int from_image,
    const char *text, char *err, size_t errlen)
{
	char *s = tu_quote(text);
	struct jerr e = { err, errlen, 0 };
	pk_err rc;

	err[0] = '\0';
	rc = contacts_apply(r, m, from_image, s, strlen(s), &e);
	free(s);
	return rc;
}

#define PUT(plate, name, phone) \
    "{'op':'put','plate':'" plate "','contact_name':'" name "','phone':'" \
    phone "','registered_at':1,'updated_at':2,'last_exit_at':0}"

static void
test_refusals(void **state)
{
	static const struct {
		int from_image;
		const char *text;
		const char *msg;
	} bad[] = {
		{ 0, "[1]", "contacts: must be an object" },
		{ 0, "{'plate':'AB 1'}", "op: is required" },
		{ 0, "{'op':'mystery'}", "op: unknown record 'mystery'" },
		{ 0, "{'op':'image','retention':1,'config':1,'records':0}",
		  "op: unknown record 'image'" },
		{ 0, "{'op':'del','plate':'ZZ 9'}", "plate: no record of 'ZZ 9'" },
		{ 0, "{'op':'exit','plate':'ZZ 9','at':5}", "plate: no record of 'ZZ 9'" },
		{ 0, "{'op':'purge','x':1}", "x: unknown key" },
		{ 0, "{'op':'retention','hours':-1,'config':1}",
		  "hours: must be between 0 and 87600" },
		{ 0, PUT("AB 1", "Secret Person", "+12"),
		  "a record of plate 'AB 1' with an invalid plate, name or phone" },
		{ 0, PUT("ab 1", "Secret Person", "+4912345678"),
		  "a record of plate 'ab 1' with an invalid plate, name or phone" },
		{ 0, PUT("AB 1", "Secret\\u0007Person", "+4912345678"),
		  "a record of plate 'AB 1' with an invalid plate, name or phone" },
		{ 0, PUT("AB 1", "Secret Person", "+49123456789012345678"),
		  "phone: must be at most 16 bytes" },
		{ 1, PUT("AB 1", "Secret Person", "+4912345678"),
		  "op: an image record before the image's header" },
	};
	struct contacts_meta m;
	char err[300];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		registry *r = registry_new(1);

		contacts_meta_init(&m);
		assert_int_not_equal(apply_text(r, &m, bad[i].from_image,
		    bad[i].text, err, sizeof(err)), PK_OK);
		if (strcmp(err, bad[i].msg) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err, bad[i].msg);
		/* Whatever is wrong, the message quotes no contact. */
		assert_null(strstr(err, "Secret"));
		assert_null(strstr(err, "12345678"));
		assert_int_equal(registry_count(r), 0);
		registry_free(r);
	}
}

/*
 * What a follower counts as an erasure it owes: a del, a purge of
 * something, a put that replaces a name or a phone number; not a put
 * that changes neither, an exit, a retention, or an image's puts.
 */
static void
test_erasures_counted(void **state)
{
	static const struct {
		int from_image;
		const char *text;
		uint64_t erased;	/* the count after it */
	} steps[] = {
		{ 1, "{'op':'image','retention':5,'config':5,'records':1}", 0 },
		{ 1, PUT("AB 1", "Ada Lovelace", "+4912345678"), 0 },
		{ 0, PUT("AB 2", "Ada Lovelace", "+4912345678"), 0 },
		{ 0, "{'op':'put','plate':'AB 2','contact_name':'Ada Lovelace',"
		  "'phone':'+4912345678','registered_at':1,'updated_at':9,"
		  "'last_exit_at':0}", 0 },
		{ 0, PUT("AB 2", "Ada Lovelace", "+4912345679"), 1 },
		{ 0, PUT("AB 2", "Ada Byron", "+4912345679"), 2 },
		{ 0, PUT("AB 2", "Ada Byro", "+4912345679"), 3 },
		{ 0, "{'op':'exit','plate':'AB 2','at':50}", 3 },
		{ 0, "{'op':'retention','hours':0,'config':5}", 3 },
		{ 0, "{'op':'del','plate':'AB 2'}", 4 },
		{ 0, "{'op':'purge'}", 5 },
		{ 0, "{'op':'purge'}", 5 },
	};
	registry *r = registry_new(5);
	struct contacts_meta m;
	char err[300];

	(void)state;
	contacts_meta_init(&m);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		if (apply_text(r, &m, steps[i].from_image, steps[i].text, err,
		    sizeof(err)) != PK_OK)
			fail_msg("step %zu refused: %s", i, err);
		if (m.erased != steps[i].erased)
			fail_msg("step %zu: erased %llu, want %llu", i,
			    (unsigned long long)m.erased,
			    (unsigned long long)steps[i].erased);
	}
	assert_int_equal(registry_count(r), 0);
	registry_free(r);
}

static void
test_image_shape(void **state)
{
	struct contacts_meta m;
	registry *r = registry_new(1);
	char err[300];
	struct jerr e = { err, sizeof(err), 0 };

	(void)state;
	contacts_meta_init(&m);
	assert_int_equal(apply_text(r, &m, 1,
	    "{'op':'image','retention':7,'config':3,'records':2}", err,
	    sizeof(err)), PK_OK);
	assert_int_equal(registry_retention(r), 7);
	assert_int_equal(m.config_hours, 3);
	assert_int_equal(apply_text(r, &m, 1, PUT("AB 1", "Ann", "+4912345678"),
	    err, sizeof(err)), PK_OK);
	assert_int_equal(contacts_image_complete(&m, &e), -1);
	assert_string_equal(err, "image: has 1 of the 2 records its header announced");
	assert_int_not_equal(apply_text(r, &m, 1,
	    "{'op':'image','retention':7,'config':3,'records':2}", err,
	    sizeof(err)), PK_OK);
	assert_string_equal(err, "op: a second image header");
	assert_int_not_equal(apply_text(r, &m, 1, "{'op':'purge'}", err,
	    sizeof(err)), PK_OK);
	assert_int_equal(apply_text(r, &m, 1, PUT("CD 2", "Bo", "+4912345678"),
	    err, sizeof(err)), PK_OK);
	assert_int_equal(contacts_image_complete(&m, &e), 0);
	assert_int_not_equal(apply_text(r, &m, 1, PUT("EF 3", "Cy", "+4912345678"),
	    err, sizeof(err)), PK_OK);
	assert_non_null(strstr(err, "holds only its 2 records"));
	registry_free(r);
}

static int
collect(void *ud, const char *p, size_t len)
{
	struct wal_buf *b = ud;

	return wal_buf_add(b, 1, p, len);
}

/* n records with some long names (100 characters of 4 bytes each). */
static void
fill_registry(registry *r, size_t n, int64_t at)
{
	char plate[32], name[REGISTRY_NAME_MAX_BYTES + 1], phone[32];

	for (size_t i = 0; i < n; i++) {
		struct registry_entry e;

		memset(&e, 0, sizeof(e));
		snprintf(plate, sizeof(plate), "FRZ %zu", i);
		if (i % 7 == 0) {
			name[0] = '\0';
			for (int k = 0; k < 100; k++)
				strcat(name, "\xf0\x9f\x9a\x97");
		} else {
			snprintf(name, sizeof(name), "Name \"%zu\" \\ %zu", i, i * 7);
		}
		snprintf(phone, sizeof(phone), "+49151%07zu", i);
		e.plate = plate;
		e.contact_name = name;
		e.contact_len = strlen(name);
		e.phone = phone;
		e.registered_at = at + (int64_t)i;
		e.updated_at = at + 2 * (int64_t)i;
		e.last_exit_at = i % 3 ? at + 3 * (int64_t)i : 0;
		assert_int_equal(registry_restore(r, &e), PK_OK);
	}
}

/* Freezes r (into reuse, when given) and checks the image it writes. */
static struct contacts_frozen *
freeze_and_compare(registry **r, int64_t config, struct contacts_frozen *reuse,
    int free_registry)
{
	struct contacts_frozen *f;
	struct wal_buf live, frozen;

	memset(&live, 0, sizeof(live));
	memset(&frozen, 0, sizeof(frozen));
	assert_int_equal(contacts_image(*r, config, collect, &live), 0);
	f = contacts_freeze(*r, config, reuse);
	assert_non_null(f);
	if (reuse != NULL)
		assert_ptr_equal(f, reuse);
	assert_true(contacts_frozen_bytes(f) + 16 * (registry_count(*r) + 1) >=
	    live.len);
	if (free_registry) {
		/* The registry moves on, then goes; the copy does not. */
		(void)registry_delete(*r, "FRZ 1");
		registry_set_retention(*r, 0, INT64_MIN, NULL);
		registry_purge(*r);
		registry_free(*r);
		*r = NULL;
	}
	assert_int_equal(contacts_image_frozen(f, collect, &frozen), 0);
	assert_int_equal(frozen.len, live.len);
	assert_memory_equal(frozen.data, live.data, live.len);
	wal_buf_free(&live);
	wal_buf_free(&frozen);
	return f;
}

/*
 * A frozen copy writes, byte for byte, the image the registry would have
 * written when it was frozen, whatever happens to the registry after:
 * records deleted (and wiped), the retention changed, the registry purged
 * and freed.  Enough records to fill more than one of the copy's string
 * blocks; then the same copy's memory reused for an empty registry and
 * for a larger one.
 */
static void
test_frozen_image_is_the_image_at_the_freeze(void **state)
{
	registry *r = registry_new(5);
	struct contacts_frozen *f;

	(void)state;
	fill_registry(r, 12000, T0);
	f = freeze_and_compare(&r, 9, NULL, 1);
	contacts_frozen_wipe(f);
	r = registry_new(2);
	f = freeze_and_compare(&r, -1, f, 1);
	r = registry_new(3);
	fill_registry(r, 20000, T0 + 5);
	/* Holes filled from the array's end: its order is not the plates'. */
	for (size_t i = 0; i < 20000; i += 7) {
		char plate[32];

		snprintf(plate, sizeof(plate), "FRZ %zu", i);
		assert_int_equal(registry_delete(r, plate), PK_OK);
	}
	assert_int_equal(registry_check(r), 0);
	f = freeze_and_compare(&r, 4, f, 0);
	registry_free(r);
	contacts_frozen_free(f);
	contacts_frozen_free(NULL);
}

/* ---- inside flags from the garage ---- */

static void
test_sync_inside_from_the_garage(void **state)
{
	garage *g = tu_garage(ALLOC_NEAREST, 10);
	registry *r = registry_new(1);
	struct garage_entry_in in;
	struct garage_quote q;
	struct changes ch;
	struct ticket *t;
	char id[UUID_BUFSZ];
	struct registry_entry e;

	(void)state;
	changes_init(&ch);
	assert_int_equal(regops_register(r, "AB 1", "Ann", 3, "+4912345678", 11,
	    T0, 0, NULL, &ch), PK_OK);
	assert_int_equal(regops_register(r, "CD 2", "Bob", 3, "+4912345678", 11,
	    T0, 0, NULL, &ch), PK_OK);
	memset(&in, 0, sizeof(in));
	tu_id(1, id);
	in.gate = facility_gate_lookup(garage_facility(g), "north");
	in.plate = "AB 1";
	in.cls = facility_class_lookup(garage_facility(g), "car");
	in.ticket_id = id;
	in.at = T0;
	changes_clear(&ch);
	assert_int_equal(garage_entry(g, &in, &t, &ch), PK_OK);
	/* A store read back: nobody inside until the garage says so. */
	contacts_sync_inside(r, g);
	assert_int_equal(registry_get(r, "AB 1", &e), PK_OK);
	assert_true(e.inside);
	assert_int_equal(e.expires_at, REGISTRY_NEVER);
	assert_int_equal(registry_get(r, "CD 2", &e), PK_OK);
	assert_false(e.inside);

	/* The garage's exit, through the change list, restarts the expiry. */
	assert_int_equal(changes_reserve(&ch, 0), 0);
	changes_clear(&ch);
	assert_int_equal(garage_exit(g, t, facility_gate_lookup(garage_facility(g),
	    "south"), T0 + 600, &q, &ch), PK_OK);
	assert_int_equal(ch.n, 1);
	assert_int_equal(regops_follow(r, &ch.v[0]), 1);
	assert_int_equal(registry_get(r, "AB 1", &e), PK_OK);
	assert_false(e.inside);
	assert_int_equal(e.last_exit_at, T0 + 600);
	assert_int_equal(e.expires_at, T0 + 600 + H);
	changes_release(&ch);
	registry_free(r);
	garage_free(g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_side_record_of_each_change),
		cmocka_unit_test(test_image_and_replay),
		cmocka_unit_test(test_replay_model),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_erasures_counted),
		cmocka_unit_test(test_image_shape),
		cmocka_unit_test(test_frozen_image_is_the_image_at_the_freeze),
		cmocka_unit_test(test_sync_inside_from_the_garage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
