/* view.c - JSON views shared by replies and notifications (see view.h). */
#include "view.h"

#include <stdio.h>

void
view_ticket_names(struct jw *w, const struct ticket *t)
{
	jw_kstrk(w, "ticket", t->id, t->id_len, t->id_plain);
	jw_kstrk(w, "plate", t->plate, t->plate_len, t->plate_plain);
}

void
view_counts(struct jw *w, const char *key, const struct alloc_counts *k,
    int full)
{
	jw_keyv(w, key);
	jw_obj(w);
	jw_kuint(w, "total", k->total);
	jw_kuint(w, "free", k->free);
	if (full) {
		jw_kuint(w, "occupied", k->occupied);
		jw_kuint(w, "out_of_service", k->out_of_service);
		jw_kuint(w, "held", k->held);
	}
	jw_obj_end(w);
}

void
view_breakdown(struct jw *w, const garage *g)
{
	const facility *f = garage_facility(g);
	const alloc *a = garage_alloc(g);
	struct alloc_counts k;
	char lv[16];

	jw_key(w, "by_type");
	jw_obj(w);
	for (int i = 0; i < facility_type_count(f); i++) {
		alloc_counts_by_type(a, i, &k);
		view_counts(w, facility_type_name(f, i), &k, 0);
	}
	jw_obj_end(w);
	jw_key(w, "by_level");
	jw_obj(w);
	for (int i = 0; i < facility_level_count(f); i++) {
		alloc_counts_by_level(a, i, &k);
		snprintf(lv, sizeof(lv), "%d", facility_level_value(f, i));
		view_counts(w, lv, &k, 0);
	}
	jw_obj_end(w);
}

void
view_occupancy(struct jw *w, const garage *g)
{
	struct alloc_counts k;

	alloc_counts(garage_alloc(g), &k);
	jw_kuint(w, "free", k.free);
	jw_kuint(w, "total", k.total);
	view_breakdown(w, g);
}

void
view_sign(struct jw *w, const garage *g, int gate)
{
	const facility *f = garage_facility(g);

	jw_kstr(w, "gate", facility_gate_id(f, gate));
	jw_key(w, "classes");
	jw_obj(w);
	for (int c = 0; c < facility_class_count(f); c++) {
		jw_keyv(w, facility_class_name(f, c));
		jw_str(w, garage_class_open(g, gate, c) ? "open" : "full");
	}
	jw_obj_end(w);
}

/* ---- the layout ---- */

/*
 * What a row can add beyond VIEW_LAYOUT_ROWS_BYTES (the page ends after
 * the row that passes it): its members with 64 tags of 32 characters,
 * every character escaped.
 */
#define ROW_BYTES_MAX	(FAC_MAX_TAGS * (2 * FAC_MAX_NAME + 3) + 4 * FAC_MAX_NAME + 400)
/*
 * The occupants' spots that lie off the page: only the two runs that
 * straddle its ends can have them.
 */
#define OFF_PAGE_BYTES	(2 * ALLOC_MAX_SPOTS * 10)
/* The members after the rows that are not per spot. */
#define TAIL_BYTES	128

char
view_spot_code(const alloc *a, uint32_t s)
{
	int pending = alloc_spot_pending_out_of_service(a, s);

	switch (alloc_spot_state(a, s)) {
	case ALLOC_SPOT_FREE:
		return 'F';
	case ALLOC_SPOT_OCCUPIED:
		return pending ? 'o' : 'O';
	case ALLOC_SPOT_HELD:
		return pending ? 'h' : 'H';
	case ALLOC_SPOT_OUT_OF_SERVICE:
		break;
	}
	return 'X';
}

static void
layout_head(struct jw *w, const facility *f)
{
	int64_t x, y;

	jw_kstr(w, "facility", facility_name(f));
	jw_kstr(w, "timezone", facility_timezone(f));
	jw_kuint(w, "spots", facility_spot_count(f));
	jw_key(w, "levels");
	jw_arr(w);
	for (int i = 0; i < facility_level_count(f); i++)
		jw_int(w, facility_level_value(f, i));
	jw_arr_end(w);
	jw_key(w, "gates");
	jw_arr(w);
	for (int i = 0; i < facility_gate_count(f); i++) {
		facility_gate_xy_milli(f, i, &x, &y);
		jw_obj(w);
		jw_kstr(w, "id", facility_gate_id(f, i));
		jw_kstr(w, "role", facility_gate_role_name(facility_gate_role(f, i)));
		jw_kint(w, "level", facility_gate_level(f, i));
		jw_kmilli(w, "x", x);
		jw_kmilli(w, "y", y);
		jw_obj_end(w);
	}
	jw_arr_end(w);
}

static void
layout_row(struct jw *w, const facility *f, uint32_t r)
{
	struct fac_row_geom geo;
	uint64_t tags = facility_row_tags(f, r);

	facility_row_geom(f, r, &geo);
	jw_obj(w);
	jw_kuint(w, "start", facility_row_start(f, r));
	jw_kuint(w, "count", facility_row_len(f, r));
	jw_kint(w, "level", facility_level_value(f, facility_row_level_index(f, r)));
	jw_kstr(w, "zone", geo.zone);
	jw_kuint(w, "first", geo.first);
	jw_kstr(w, "type", facility_type_name(f, facility_row_type_index(f, r)));
	jw_key(w, "tags");
	jw_arr(w);
	for (int i = 0; i < facility_tag_count(f); i++) {
		if (tags & ((uint64_t)1 << i))
			jw_str(w, facility_tag_name(f, i));
	}
	jw_arr_end(w);
	jw_kmilli(w, "x", geo.x);
	jw_kmilli(w, "y", geo.y);
	jw_kmilli(w, "dx", geo.dx);
	jw_kmilli(w, "dy", geo.dy);
	jw_obj_end(w);
}

/* Writes a chunk of the state string: the first one is the value. */
static void
states_chunk(struct jw *w, const char *buf, size_t k, int *first)
{
	if (*first)
		jw_raw(w, buf, k);
	else
		jw_splice(w, buf, k);
	*first = 0;
}

/* The state string, in chunks so that no page-sized copy is made. */
static void
layout_states(struct jw *w, const alloc *a, uint32_t from, uint32_t n)
{
	char buf[4096];
	size_t k = 0;
	int first = 1;

	jw_key(w, "state");
	buf[k++] = '"';
	for (uint32_t s = from; s < from + n; s++) {
		if (k == sizeof(buf)) {
			states_chunk(w, buf, k, &first);
			k = 0;
		}
		buf[k++] = view_spot_code(a, s);
	}
	if (k == sizeof(buf)) {
		states_chunk(w, buf, k, &first);
		k = 0;
	}
	buf[k++] = '"';
	states_chunk(w, buf, k, &first);
}

/* Whether spot s is the first spot of t on the page [from, end). */
static int
first_on_page(const struct ticket *t, uint32_t s, uint32_t from)
{
	for (size_t i = 0; i < t->n_spots; i++) {
		if (t->spots[i] >= from && t->spots[i] < s)
			return 0;
	}
	return 1;
}

/* The vehicles on the page's spots, each once: O(spots on the page). */
static void
layout_occupants(struct jw *w, const garage *g, uint32_t from, uint32_t n)
{
	const struct ticket *t;

	jw_key(w, "occupants");
	jw_arr(w);
	for (uint32_t s = from; s < from + n; s++) {
		if ((t = garage_on_spot(g, s)) == NULL || !first_on_page(t, s, from))
			continue;
		jw_obj(w);
		jw_kstr(w, "ticket", t->id);
		jw_kstr(w, "plate", t->plate);
		jw_ktime(w, "entered_at", t->entered_at);
		jw_key(w, "spots");
		jw_arr(w);
		for (size_t i = 0; i < t->n_spots; i++)
			jw_uint(w, t->spots[i]);
		jw_arr_end(w);
		jw_obj_end(w);
	}
	jw_arr_end(w);
}

pk_err
view_layout(struct jw *w, const garage *g, uint32_t from, uint32_t limit,
    size_t budget, int with_occupants)
{
	const facility *f = garage_facility(g);
	uint32_t total = facility_spot_count(f), n, r;
	size_t start = w->len, used, rows_at, room;

	if (from >= total || limit == 0)
		return PK_E_INVALID_PARAMS;
	jw_obj(w);
	layout_head(w, f);
	used = w->len - start;
	/* Room for the spots once the head, a full rows section and the tail are in. */
	if (budget < used + VIEW_LAYOUT_ROWS_BYTES + ROW_BYTES_MAX +
	    OFF_PAGE_BYTES + TAIL_BYTES + VIEW_LAYOUT_SPOT_BYTES)
		return PK_E_INVALID_REQUEST;
	room = budget - used - VIEW_LAYOUT_ROWS_BYTES - ROW_BYTES_MAX -
	    OFF_PAGE_BYTES - TAIL_BYTES;
	n = total - from;
	if (n > limit)
		n = limit;
	if (n > room / VIEW_LAYOUT_SPOT_BYTES)
		n = (uint32_t)(room / VIEW_LAYOUT_SPOT_BYTES);

	/* The rows; past their byte budget the page ends with the row that passed it. */
	jw_key(w, "rows");
	jw_arr(w);
	rows_at = w->len;
	for (r = facility_row_of_spot(f, from); r < facility_row_count(f); r++) {
		uint32_t rs = facility_row_start(f, r), end;

		if (rs >= from + n)
			break;
		layout_row(w, f, r);
		end = rs + facility_row_len(f, r);
		if (w->len - rows_at > VIEW_LAYOUT_ROWS_BYTES && end < from + n) {
			n = end - from;
			break;
		}
	}
	jw_arr_end(w);

	jw_kuint(w, "from", from);
	jw_kuint(w, "count", n);
	if (from + n < total)
		jw_kuint(w, "next", from + n);
	else
		jw_knull(w, "next");
	layout_states(w, garage_alloc(g), from, n);
	if (with_occupants)
		layout_occupants(w, g, from, n);
	jw_obj_end(w);
	return jw_failed(w) ? PK_E_INTERNAL : PK_OK;
}
