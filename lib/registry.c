/* registry.c - contacts per plate with retention-driven expiry (see registry.h). */
#include "registry.h"

#include <stdlib.h>
#include <string.h>

#include "omap.h"

#define RG_NOT_IN_HEAP SIZE_MAX

/*
 * One record.  It is the value of its plate in by_plate and, unless its
 * vehicle is inside, an element of the expiry heap at heap_at.  The
 * contact name is a separate allocation of exactly its size (names are
 * short; a fixed 401-byte buffer per record would be mostly air).
 */
struct rec {
	char plate[PLATE_BUFSZ];
	char phone[REGISTRY_PHONE_BUFSZ];
	int inside;
	char *name;
	size_t name_len;
	int64_t registered_at;
	int64_t updated_at;
	int64_t last_exit_at;
	int64_t expires_at;	/* REGISTRY_NEVER while inside */
	size_t heap_at;		/* RG_NOT_IN_HEAP while inside */
	size_t all_at;		/* its place in registry.all */
};

/*
 * Invariants: heap[0..heap_n) is a binary min-heap on (expires_at, plate)
 * of exactly the records whose vehicle is not inside, each knowing its
 * index; heap_cap >= the number of records, so that a vehicle's exit
 * (which puts its record back in the heap) never needs to allocate.
 * all[0..all_n) is every record once, in no order, each knowing its
 * index (room for heap_cap): a copy of the registry walks it, an array,
 * rather than the map, a tree whose nodes are each a cache miss.
 */
struct registry {
	omap *by_plate;		/* plate -> struct rec */
	struct rec **heap;
	size_t heap_n, heap_cap;
	struct rec **all;
	size_t all_n;
	int64_t retention_h;
};

int
registry_name_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, chars = 0;

	if (s == NULL || len == 0 || len > REGISTRY_NAME_MAX_BYTES)
		return 0;
	/*
	 * The decoding rules are those of proto/utf8.c (which lib/ may not
	 * include); the protocol layer has validated the line already, but
	 * counting code points and finding C1 controls needs a decode here.
	 */
	while (i < len) {
		unsigned char c = p[i];
		uint32_t cp;
		size_t n, k;

		if (c < 0x80) {
			n = 1;
			cp = c;
		} else if (c >= 0xC2 && c <= 0xDF) {
			n = 2;
			cp = c & 0x1F;
		} else if (c >= 0xE0 && c <= 0xEF) {
			n = 3;
			cp = c & 0x0F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			n = 4;
			cp = c & 0x07;
		} else {
			return 0;	/* continuation, C0, C1, F5..FF */
		}
		if (len - i < n)
			return 0;
		for (k = 1; k < n; k++) {
			if ((p[i + k] & 0xC0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i + k] & 0x3F);
		}
		if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
		    cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return 0;
		if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) ||
		    cp == 0x2028 || cp == 0x2029)
			return 0;
		if (++chars > REGISTRY_NAME_MAX_CHARS)
			return 0;
		i += n;
	}
	return 1;
}

int
registry_phone_normalize(const char *s, size_t len,
    char out[REGISTRY_PHONE_BUFSZ])
{
	size_t i, digits = 0;
	int plus = 0;

	out[0] = '\0';
	if (s == NULL || len > REGISTRY_PHONE_INPUT_MAX)
		return -1;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (c == ' ' || c == '-' || c == '.')
			continue;
		if (c == '+' && !plus && digits == 0) {
			plus = 1;
			continue;
		}
		if (c < '0' || c > '9' || !plus ||
		    digits == REGISTRY_PHONE_MAX_DIGITS)
			goto bad;
		out[1 + digits++] = c;
	}
	if (digits < REGISTRY_PHONE_MIN_DIGITS)
		goto bad;
	out[0] = '+';
	out[1 + digits] = '\0';
	return 0;
bad:
	explicit_bzero(out, REGISTRY_PHONE_BUFSZ);
	return -1;
}

/* 1 when plate is a canonical plate (what plate_normalize() makes). */
static int
rg_plate_ok(const char *plate)
{
	char canon[PLATE_BUFSZ];
	size_t len;

	if (plate == NULL)
		return 0;
	len = strnlen(plate, PLATE_MAX + 1);
	return len <= PLATE_MAX && plate_normalize(plate, len, canon) == 0 &&
	    strcmp(canon, plate) == 0;
}

static void
rg_rec_free(struct rec *x)
{
	if (x == NULL)
		return;
	if (x->name != NULL) {
		explicit_bzero(x->name, x->name_len);
		free(x->name);
	}
	explicit_bzero(x, sizeof(*x));
	free(x);
}

/* ---- the expiry heap ---- */

static int
rg_before(const struct rec *a, const struct rec *b)
{
	if (a->expires_at != b->expires_at)
		return a->expires_at < b->expires_at;
	return strcmp(a->plate, b->plate) < 0;
}

static void
rg_heap_set(registry *r, size_t i, struct rec *x)
{
	r->heap[i] = x;
	x->heap_at = i;
}

static void
rg_heap_up(registry *r, size_t i)
{
	struct rec *x = r->heap[i];

	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (!rg_before(x, r->heap[p]))
			break;
		rg_heap_set(r, i, r->heap[p]);
		i = p;
	}
	rg_heap_set(r, i, x);
}

static void
rg_heap_down(registry *r, size_t i)
{
	struct rec *x = r->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= r->heap_n)
			break;
		if (c + 1 < r->heap_n && rg_before(r->heap[c + 1], r->heap[c]))
			c++;
		if (!rg_before(r->heap[c], x))
			break;
		rg_heap_set(r, i, r->heap[c]);
		i = c;
	}
	rg_heap_set(r, i, x);
}

static void
rg_heap_remove(registry *r, struct rec *x)
{
	size_t i = x->heap_at;
	struct rec *last;

	if (i == RG_NOT_IN_HEAP)
		return;
	x->heap_at = RG_NOT_IN_HEAP;
	last = r->heap[--r->heap_n];
	if (last == x)
		return;
	rg_heap_set(r, i, last);
	rg_heap_up(r, i);
	rg_heap_down(r, last->heap_at);
}

/* Room in the heap and in all for n records; 0, or -1 when out of memory. */
static int
rg_reserve(registry *r, size_t n)
{
	struct rec **nh, **na;
	size_t ncap;

	if (n <= r->heap_cap)
		return 0;
	ncap = r->heap_cap < 16 ? 16 : r->heap_cap;
	while (ncap < n) {
		if (ncap > SIZE_MAX / 2 / sizeof(*nh))
			return -1;
		ncap *= 2;
	}
	nh = realloc(r->heap, ncap * sizeof(*nh));
	if (nh == NULL)
		return -1;
	r->heap = nh;
	/* Should this fail, the heap is only larger than heap_cap says. */
	na = realloc(r->all, ncap * sizeof(*na));
	if (na == NULL)
		return -1;
	r->all = na;
	r->heap_cap = ncap;
	return 0;
}

static void
rg_all_add(registry *r, struct rec *x)
{
	x->all_at = r->all_n;
	r->all[r->all_n++] = x;
}

/* x leaves the heap and all (the map is the caller's). */
static void
rg_unindex(registry *r, struct rec *x)
{
	struct rec *last = r->all[--r->all_n];

	rg_heap_remove(r, x);
	r->all[x->all_at] = last;
	last->all_at = x->all_at;
}

static int64_t
rg_expiry(const registry *r, const struct rec *x)
{
	int64_t base, add;

	if (x->inside)
		return REGISTRY_NEVER;
	base = x->updated_at > x->last_exit_at ? x->updated_at :
	    x->last_exit_at;
	add = r->retention_h * 3600;
	/* Saturate below REGISTRY_NEVER: a record outside always expires. */
	if (base > REGISTRY_NEVER - 1 - add)
		return REGISTRY_NEVER - 1;
	return base + add;
}

/* Recomputes x's expiry and puts it where it belongs in the heap. */
static void
rg_schedule(registry *r, struct rec *x)
{
	int64_t old = x->expires_at;

	x->expires_at = rg_expiry(r, x);
	if (x->inside) {
		rg_heap_remove(r, x);
		return;
	}
	if (x->heap_at == RG_NOT_IN_HEAP) {
		/* heap_cap >= records, so there is room. */
		rg_heap_set(r, r->heap_n++, x);
		rg_heap_up(r, x->heap_at);
	} else if (x->expires_at < old) {
		rg_heap_up(r, x->heap_at);
	} else {
		rg_heap_down(r, x->heap_at);
	}
}

/* ---- life cycle ---- */

static int64_t
rg_clamp_hours(int64_t h)
{
	if (h < 0)
		return 0;
	if (h > REGISTRY_RETENTION_MAX_HOURS)
		return REGISTRY_RETENTION_MAX_HOURS;
	return h;
}

registry *
registry_new(int64_t retention_hours)
{
	registry *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->by_plate = omap_new(PLATE_MAX);
	if (r->by_plate == NULL) {
		free(r);
		return NULL;
	}
	r->retention_h = rg_clamp_hours(retention_hours);
	return r;
}

/* Removes every record from the map and wipes it; returns the count. */
static size_t
rg_clear(registry *r)
{
	size_t n = 0;
	omap_node *node;

	while ((node = omap_first(r->by_plate)) != NULL) {
		rg_rec_free(omap_del_node(r->by_plate, node));
		n++;
	}
	r->heap_n = 0;
	r->all_n = 0;
	return n;
}

void
registry_free(registry *r)
{
	if (r == NULL)
		return;
	rg_clear(r);
	omap_free(r->by_plate);
	free(r->heap);
	free(r->all);
	free(r);
}

size_t
registry_count(const registry *r)
{
	return omap_size(r->by_plate);
}

int64_t
registry_retention(const registry *r)
{
	return r->retention_h;
}

static void
rg_entry(const struct rec *x, struct registry_entry *e)
{
	e->plate = x->plate;
	e->contact_name = x->name;
	e->contact_len = x->name_len;
	e->phone = x->phone;
	e->registered_at = x->registered_at;
	e->updated_at = x->updated_at;
	e->last_exit_at = x->last_exit_at;
	e->expires_at = x->expires_at;
	e->inside = x->inside;
}

/*
 * Stores a validated contact for plate: an update of the existing record
 * when there is one (restore: every time replaced; register: registered_at
 * and last_exit_at kept), else a new record.  Every allocation comes
 * before the first change, so a failure changes nothing.
 */
static pk_err
rg_store(registry *r, const char *plate, const char *name, size_t name_len,
    const char phone[REGISTRY_PHONE_BUFSZ], const struct registry_entry *times,
    int64_t now, int inside, int *created)
{
	struct rec *x = omap_get(r->by_plate, plate);
	char *nm = malloc(name_len + 1);

	if (nm == NULL)
		return PK_E_INTERNAL;
	memcpy(nm, name, name_len);
	nm[name_len] = '\0';
	if (x == NULL) {
		if (rg_reserve(r, omap_size(r->by_plate) + 1) != 0 ||
		    (x = calloc(1, sizeof(*x))) == NULL) {
			explicit_bzero(nm, name_len);
			free(nm);
			return PK_E_INTERNAL;
		}
		memcpy(x->plate, plate, strlen(plate) + 1);
		x->name = nm;
		x->name_len = name_len;
		x->heap_at = RG_NOT_IN_HEAP;
		x->expires_at = REGISTRY_NEVER;
		if (omap_put(r->by_plate, x->plate, x, NULL) != PK_OK) {
			rg_rec_free(x);
			return PK_E_INTERNAL;
		}
		rg_all_add(r, x);	/* room reserved with the heap's */
		x->registered_at = now;
		x->last_exit_at = 0;
		if (created != NULL)
			*created = 1;
	} else {
		explicit_bzero(x->name, x->name_len);
		free(x->name);
		x->name = nm;
		x->name_len = name_len;
		if (created != NULL)
			*created = 0;
	}
	memcpy(x->phone, phone, REGISTRY_PHONE_BUFSZ);
	x->updated_at = now;
	x->inside = inside != 0;
	if (times != NULL) {
		x->registered_at = times->registered_at;
		x->updated_at = times->updated_at;
		x->last_exit_at = times->last_exit_at;
	}
	rg_schedule(r, x);
	return PK_OK;
}

pk_err
registry_register(registry *r, const char *plate, const char *name,
    size_t name_len, const char *phone, size_t phone_len, int64_t now,
    int inside, int *created)
{
	char ph[REGISTRY_PHONE_BUFSZ];
	pk_err e;

	if (created != NULL)
		*created = 0;
	if (!rg_plate_ok(plate) || !registry_name_valid(name, name_len) ||
	    registry_phone_normalize(phone, phone_len, ph) != 0)
		return PK_E_INVALID_PARAMS;
	e = rg_store(r, plate, name, name_len, ph, NULL, now, inside, created);
	explicit_bzero(ph, sizeof(ph));
	return e;
}

pk_err
registry_restore(registry *r, const struct registry_entry *in)
{
	char ph[REGISTRY_PHONE_BUFSZ];
	pk_err e;

	if (in == NULL || !rg_plate_ok(in->plate) ||
	    !registry_name_valid(in->contact_name, in->contact_len) ||
	    in->phone == NULL ||
	    registry_phone_normalize(in->phone, strnlen(in->phone,
	    REGISTRY_PHONE_INPUT_MAX + 1), ph) != 0)
		return PK_E_INVALID_PARAMS;
	e = rg_store(r, in->plate, in->contact_name, in->contact_len, ph, in,
	    in->updated_at, in->inside, NULL);
	explicit_bzero(ph, sizeof(ph));
	return e;
}

pk_err
registry_get(const registry *r, const char *plate, struct registry_entry *e)
{
	const struct rec *x = omap_get(r->by_plate, plate);

	if (x == NULL)
		return PK_E_NOT_FOUND;
	rg_entry(x, e);
	return PK_OK;
}

pk_err
registry_delete(registry *r, const char *plate)
{
	struct rec *x = omap_del(r->by_plate, plate);

	if (x == NULL)
		return PK_E_NOT_FOUND;
	rg_unindex(r, x);
	rg_rec_free(x);
	return PK_OK;
}

size_t
registry_purge(registry *r)
{
	return rg_clear(r);
}

pk_err
registry_list(const registry *r, const char *after, size_t limit,
    struct registry_entry *out, size_t *n, int *more)
{
	omap_node *node;

	*n = 0;
	*more = 0;
	if (limit == 0 || limit > REGISTRY_LIST_MAX)
		return PK_E_INVALID_PARAMS;
	if (after != NULL && after[0] != '\0') {
		if (strnlen(after, PLATE_MAX + 1) > PLATE_MAX)
			return PK_E_INVALID_PARAMS;
		node = omap_seek_after(r->by_plate, after);
	} else {
		node = omap_first(r->by_plate);
	}
	for (; node != NULL && *n < limit; node = omap_next(node))
		rg_entry(omap_node_value(node), &out[(*n)++]);
	*more = node != NULL;
	return PK_OK;
}

int
registry_vehicle_entered(registry *r, const char *plate)
{
	struct rec *x = omap_get(r->by_plate, plate);

	if (x == NULL)
		return 0;
	x->inside = 1;
	rg_schedule(r, x);
	return 1;
}

int
registry_vehicle_exited(registry *r, const char *plate, int64_t at)
{
	struct rec *x = omap_get(r->by_plate, plate);

	if (x == NULL)
		return 0;
	x->inside = 0;
	if (at > x->last_exit_at)
		x->last_exit_at = at;
	rg_schedule(r, x);
	return 1;
}

int64_t
registry_next_due(const registry *r)
{
	return r->heap_n > 0 ? r->heap[0]->expires_at : REGISTRY_NEVER;
}

size_t
registry_expire_due(registry *r, int64_t now, size_t max,
    registry_expired_fn fn, void *arg)
{
	size_t done = 0;

	while (r->heap_n > 0 && r->heap[0]->expires_at <= now &&
	    (max == 0 || done < max)) {
		struct rec *x = r->heap[0];
		struct registry_entry e;

		rg_unindex(r, x);
		omap_del(r->by_plate, x->plate);
		if (fn != NULL) {
			rg_entry(x, &e);
			fn(arg, &e);
		}
		rg_rec_free(x);
		done++;
	}
	return done;
}

void
registry_set_retention(registry *r, int64_t hours, int64_t now, size_t *due)
{
	omap_node *node;
	size_t i, n_due = 0;

	r->retention_h = rg_clamp_hours(hours);
	/* Every key changes: rebuild the heap bottom-up (Floyd), O(n). */
	r->heap_n = 0;
	for (node = omap_first(r->by_plate); node != NULL;
	    node = omap_next(node)) {
		struct rec *x = omap_node_value(node);

		x->expires_at = rg_expiry(r, x);
		x->heap_at = RG_NOT_IN_HEAP;
		if (x->inside)
			continue;
		if (x->expires_at <= now)
			n_due++;
		rg_heap_set(r, r->heap_n++, x);
	}
	for (i = r->heap_n / 2; i-- > 0;)
		rg_heap_down(r, i);
	if (due != NULL)
		*due = n_due;
}

/* How far ahead registry_entry_at asks for the records it will read. */
#define RG_PREFETCH 8

void
registry_entry_at(const registry *r, size_t i, struct registry_entry *e)
{
	if (i + RG_PREFETCH < r->all_n) {
		const struct rec *ahead = r->all[i + RG_PREFETCH];

		__builtin_prefetch(ahead);
		__builtin_prefetch(&ahead->name);
	}
	if (i + RG_PREFETCH / 2 < r->all_n)
		__builtin_prefetch(r->all[i + RG_PREFETCH / 2]->name);
	rg_entry(r->all[i], e);
}

int
registry_next(const registry *r, const void **cursor,
    struct registry_entry *e)
{
	const omap_node *node;

	if (*cursor == NULL)
		node = omap_first(r->by_plate);
	else
		node = omap_next(*cursor);
	if (node == NULL)
		return 0;
	*cursor = node;
	rg_entry(omap_node_value(node), e);
	return 1;
}

int
registry_check(const registry *r)
{
	omap_node *node;
	size_t outside = 0, i;

	if (omap_check(r->by_plate) != 0 ||
	    r->heap_cap < omap_size(r->by_plate) ||
	    r->all_n != omap_size(r->by_plate) ||
	    r->retention_h < 0 || r->retention_h > REGISTRY_RETENTION_MAX_HOURS)
		return -1;
	for (node = omap_first(r->by_plate); node != NULL;
	    node = omap_next(node)) {
		const struct rec *x = omap_node_value(node);

		if (strcmp(omap_node_key(node), x->plate) != 0 ||
		    x->all_at >= r->all_n || r->all[x->all_at] != x ||
		    x->expires_at != rg_expiry(r, x) ||
		    x->name == NULL || strlen(x->name) != x->name_len)
			return -1;
		if (x->inside) {
			if (x->heap_at != RG_NOT_IN_HEAP)
				return -1;
			continue;
		}
		outside++;
		if (x->heap_at >= r->heap_n || r->heap[x->heap_at] != x)
			return -1;
	}
	if (outside != r->heap_n)
		return -1;
	for (i = 1; i < r->heap_n; i++)
		if (rg_before(r->heap[i], r->heap[(i - 1) / 2]))
			return -1;
	return 0;
}
