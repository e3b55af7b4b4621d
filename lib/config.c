/* config.c - the core's sections of the configuration file (see config.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facility_load.h"
#include "jread.h"
#include "tariff_load.h"

const char *const config_keys[] = { "facility", "vehicles", "strategy",
    "payment_methods", "tariff", "waitlist", "reservations", "registry", "limits", NULL };
const char *const config_limits_keys[] = { "closed_tickets", NULL };

/* What a key left out means (config.md). */
static const struct config defaults = {
	.strategy = ALLOC_NEAREST,
	.payment_methods = { "cash", "card", "app" },
	.n_payment_methods = 3,
	.waitlist = { .max_depth = 200, .max_timeout_s = 1800,
	    .keep_outcomes_s = 86400 },
	.reservations = { .max_fraction = 0.25, .hold_before_s = 900,
	    .no_show_after_s = 1800, .max_fraction_ppm = 250000,
	    .max_hours = 72, .horizon_days = 90,
	    .keep_finished_s = 86400 * 30 },
	.registry = { .retention_hours = 24, .erase_within_s = 3600 },
	.limits = { .closed_tickets = 100000 },
};

cJSON *
config_json(const char *text, size_t len, struct jerr *e)
{
	cJSON *root;

	/* Syntax errors name the file, duplicates their key path. */
	if ((root = json_parse_ex(text, len, "config", "", NULL, e)) == NULL)
		return NULL;
	if (cJSON_IsObject(root))
		return root;
	cJSON_Delete(root);
	jerr_set(e, "config", "must be an object");
	return NULL;
}

int
config_check_tariff(const facility *f, const tariff *t, const char *path,
    struct jerr *e)
{
	/*
	 * The contract's four classes are always known names: one tariff may
	 * serve garages that do not take every one of them.
	 */
	static const char *const std[] = { "motorcycle", "car", "van", "bus" };
	char p[JPATH_MAX], q[JPATH_MAX];

	for (size_t c = 0; c < tariff_class_count(t); c++) {
		const char *name = tariff_class_name(t, c);
		int known = facility_class_lookup(f, name) >= 0;

		for (size_t i = 0; !known && i < sizeof(std) / sizeof(std[0]); i++)
			known = strcmp(std[i], name) == 0;
		if (!known) {
			jpath_key(p, path, "class_multiplier");
			jpath_key(q, p, name);
			return jerr_set(e, q, "no such vehicle class");
		}
	}
	return 0;
}

static int
read_sections(struct config *c, const cJSON *root, struct jerr *e)
{
	static const char *const wl[] = { "max_depth", "max_timeout_s",
	    "keep_outcomes_s", NULL };
	static const char *const rs[] = { "max_fraction", "hold_before_s",
	    "no_show_after_s", "max_hours", "horizon_days", "keep_finished_s",
	    NULL };
	static const char *const rg[] = { "retention_hours", "erase_within_s",
	    NULL };
	const cJSON *w = NULL, *r = NULL, *g = NULL, *l = NULL;
	int64_t ppm = -1;

	if (jr_object(root, "", "waitlist", 0, wl, &w, e) < 0 ||
	    jr_int(w, "waitlist", "max_depth", 0, 0, 1000000,
	    &c->waitlist.max_depth, e) < 0 ||
	    jr_int(w, "waitlist", "max_timeout_s", 0, 1, 86400 * 7,
	    &c->waitlist.max_timeout_s, e) < 0 ||
	    jr_int(w, "waitlist", "keep_outcomes_s", 0, 0, 86400 * 366,
	    &c->waitlist.keep_outcomes_s, e) < 0 ||
	    jr_object(root, "", "reservations", 0, rs, &r, e) < 0 ||
	    jr_fixed(r, "reservations", "max_fraction", 0, 6, 0, 1000000, &ppm,
	    e) < 0 ||
	    jr_int(r, "reservations", "hold_before_s", 0, 0, 86400 * 7,
	    &c->reservations.hold_before_s, e) < 0 ||
	    jr_int(r, "reservations", "no_show_after_s", 0, 0, 86400 * 7,
	    &c->reservations.no_show_after_s, e) < 0 ||
	    jr_int(r, "reservations", "max_hours", 0, 1, 24 * 3660,
	    &c->reservations.max_hours, e) < 0 ||
	    jr_int(r, "reservations", "horizon_days", 0, 1, 3660,
	    &c->reservations.horizon_days, e) < 0 ||
	    jr_int(r, "reservations", "keep_finished_s", 0, 0, 86400 * 3660,
	    &c->reservations.keep_finished_s, e) < 0 ||
	    jr_object(root, "", "registry", 0, rg, &g, e) < 0 ||
	    jr_int(g, "registry", "retention_hours", 0, 0, 24 * 3650,
	    &c->registry.retention_hours, e) < 0 ||
	    jr_int(g, "registry", "erase_within_s", 0, 0, 86400 * 7,
	    &c->registry.erase_within_s, e) < 0 ||
	    jr_object(root, "", "limits", 0, NULL, &l, e) < 0 ||
	    jr_int(l, "limits", "closed_tickets", 0, 0, 100000000,
	    &c->limits.closed_tickets, e) < 0)
		return -1;
	if (ppm >= 0) {
		c->reservations.max_fraction = (double)ppm / 1e6;
		c->reservations.max_fraction_ppm = ppm;
	}
	return 0;
}

/* A method is a short lower-case word: what receipts and reports group by. */
static int
method_word(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > PAY_METHOD_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '_' || s[i] == '-'))
			return 0;
	return 1;
}

static int
read_payment_methods(struct config *c, const cJSON *root, struct jerr *e)
{
	const cJSON *arr = NULL, *m;
	char path[JPATH_MAX];
	size_t n = 0, i = 0;
	int rc = jr_array(root, "", "payment_methods", 0, CONFIG_PAY_METHODS_MAX,
	    &arr, &n, e);

	if (rc <= 0)
		return rc;
	if (n == 0)
		return jerr_set(e, "payment_methods", "must name at least one method");
	cJSON_ArrayForEach(m, arr) {
		snprintf(path, sizeof(path), "payment_methods[%zu]", i);
		if (!cJSON_IsString(m) || !method_word(m->valuestring))
			return jerr_set(e, path, "must be 1 to %d characters of a-z 0-9 _ -",
			    PAY_METHOD_MAX);
		for (size_t k = 0; k < i; k++)
			if (strcmp(c->payment_methods[k], m->valuestring) == 0)
				return jerr_set(e, path, "'%s' is listed twice",
				    m->valuestring);
		strcpy(c->payment_methods[i], m->valuestring);
		i++;
	}
	c->n_payment_methods = i;
	return 0;
}

int
config_payment_method(const struct config *c, const char *method)
{
	for (size_t i = 0; i < c->n_payment_methods; i++)
		if (strcmp(c->payment_methods[i], method) == 0)
			return 1;
	return 0;
}

struct config *
config_from_json(const cJSON *root, struct jerr *e)
{
	const cJSON *fac = NULL, *tar = NULL;
	struct config *c;
	int strategy = ALLOC_NEAREST;

	if ((c = malloc(sizeof(*c))) == NULL) {
		jerr_nomem(e, "config");
		return NULL;
	}
	*c = defaults;
	if (jr_enum(root, "", "strategy", 0, alloc_strategy_names, &strategy,
	    e) < 0)
		goto fail;
	c->strategy = (enum alloc_strategy)strategy;
	if (read_payment_methods(c, root, e) < 0)
		goto fail;
	if (jr_object(root, "", "facility", JR_REQUIRED, NULL, &fac, e) < 0 ||
	    (c->fac = facility_from_json(fac,
	    cJSON_GetObjectItemCaseSensitive(root, "vehicles"), e)) == NULL ||
	    jr_object(root, "", "tariff", JR_REQUIRED, NULL, &tar, e) < 0 ||
	    (c->tariff = tariff_from_json(tar, "tariff", e)) == NULL ||
	    config_check_tariff(c->fac, c->tariff, "tariff", e) != 0 ||
	    read_sections(c, root, e) != 0)
		goto fail;
	return c;
fail:
	config_free(c);
	return NULL;
}

struct config *
config_parse(const char *text, size_t len, struct jerr *e)
{
	cJSON *root = config_json(text, len, e);
	const cJSON *limits = NULL;
	struct config *c = NULL;

	if (root != NULL && jr_keys(root, "", config_keys, NULL, e) == 0 &&
	    jr_object(root, "", "limits", 0, config_limits_keys, &limits, e) >= 0)
		c = config_from_json(root, e);
	cJSON_Delete(root);
	return c;
}

void
config_free(struct config *c)
{
	if (c == NULL)
		return;
	facility_free(c->fac);
	tariff_free(c->tariff);
	free(c);
}

void
config_capacity(const struct config *c, struct garage_capacity_cfg *out)
{
	garage_capacity_defaults(out);
	out->wl.max_depth = (size_t)c->waitlist.max_depth;
	out->wl.max_timeout_s = c->waitlist.max_timeout_s;
	out->wl.keep_outcomes_s = c->waitlist.keep_outcomes_s;
	out->max_fraction_ppm = c->reservations.max_fraction_ppm;
	out->hold_before_s = c->reservations.hold_before_s;
	out->no_show_after_s = c->reservations.no_show_after_s;
	out->max_hours = c->reservations.max_hours;
	out->horizon_days = c->reservations.horizon_days;
	out->keep_finished_s = c->reservations.keep_finished_s;
}
