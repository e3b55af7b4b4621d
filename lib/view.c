/* view.c - JSON views shared by replies and notifications (see view.h). */
#include "view.h"

#include <stdio.h>

void
view_counts(struct jw *w, const char *key, const struct alloc_counts *k,
    int full)
{
	jw_key(w, key);
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
	for (int c = 0; c < facility_class_count(f); c++)
		jw_kstr(w, facility_class_name(f, c),
		    garage_class_open(g, gate, c) ? "open" : "full");
	jw_obj_end(w);
}
