/* tariff_load.c - the tariff from its JSON configuration (see tariff_load.h). */
#include "tariff_load.h"

#include <stdlib.h>
#include <string.h>

#include "jread.h"
#include "tariff_impl.h"

/* ---- reading ---- */

/* A multiplier: > 0, <= 100, at most three decimals, in thousandths. */
static int
read_mult(const cJSON *obj, const char *path, const char *key,
    unsigned flags, int32_t *out, struct jerr *e)
{
	int64_t k = 0;
	int rc = jr_fixed(obj, path, key, flags, 3, 1, MULT_MAX_MILLI, &k, e);

	if (rc > 0)
		*out = (int32_t)k;
	return rc < 0 ? -1 : 0;
}

/* An amount or a count of minutes, 0 (or min) to AMOUNT_MAX. */
static int
read_amount(const cJSON *obj, const char *path, const char *key,
    unsigned flags, int64_t min, int64_t *out, struct jerr *e)
{
	return jr_int(obj, path, key, flags, min, AMOUNT_MAX, out, e) < 0 ?
	    -1 : 0;
}

/* "HH:MM" as minutes after midnight; "24:00" only when allow_24. */
static int
read_hhmm(const cJSON *obj, const char *path, const char *key, int allow_24,
    int *out, struct jerr *e)
{
	char p[JPATH_MAX];
	const char *s = "";
	int h, m, rc;

	jpath_key(p, path, key);
	rc = jr_str(obj, path, key, JR_REQUIRED, 64, &s, e);
	if (rc < 0 && cJSON_GetObjectItemCaseSensitive(obj, key) == NULL)
		return -1;		/* missing */
	if (rc < 0 || strlen(s) != 5 || s[2] != ':' || s[0] < '0' || s[0] > '9' ||
	    s[1] < '0' || s[1] > '9' || s[3] < '0' || s[3] > '9' ||
	    s[4] < '0' || s[4] > '9')
		return jerr_set(e, p, "must be a string \"HH:MM\"");
	h = (s[0] - '0') * 10 + (s[1] - '0');
	m = (s[3] - '0') * 10 + (s[4] - '0');
	if (m > 59 || h > 24 || (h == 24 && (m != 0 || !allow_24)))
		return jerr_set(e, p, "must be a time from 00:00 to %s",
		    allow_24 ? "24:00" : "23:59");
	*out = h * 60 + m;
	return 0;
}

/* Reads element i of a list, an object at path, into items[i]. */
typedef int (*read_elem)(void *items, size_t i, const cJSON *el,
    const char *path, struct jerr *e);

/*
 * The list member key of obj: at most TARIFF_MAX_ENTRIES objects whose
 * members are all in keys.  *items gets one zeroed element of size bytes
 * for each (NULL when there are none), read by elem; *count counts those
 * read.  *items is set even on failure, for the caller to free.
 */
static int
read_list(const cJSON *obj, const char *path, const char *key,
    const char *const *keys, void **items, size_t size, size_t *count,
    read_elem elem, struct jerr *e)
{
	char lp[JPATH_MAX], p[JPATH_MAX];
	const cJSON *arr = NULL, *el;
	size_t n = 0;

	if (jr_array(obj, path, key, 0, TARIFF_MAX_ENTRIES, &arr, &n, e) < 0)
		return -1;
	if (n == 0)
		return 0;
	jpath_key(lp, path, key);
	if ((*items = calloc(n, size)) == NULL)
		return jerr_nomem(e, lp);
	cJSON_ArrayForEach(el, arr) {
		jpath_index(p, lp, *count);
		if (jr_object(el, p, NULL, 0, keys, &el, e) < 0 ||
		    elem(*items, *count, el, p, e) != 0)
			return -1;
		(*count)++;
	}
	return 0;
}

static int
read_tier(void *items, size_t i, const cJSON *el, const char *p,
    struct jerr *e)
{
	struct tariff_tier *tr = (struct tariff_tier *)items + i;
	char q[JPATH_MAX];

	if (read_amount(el, p, "upto_minutes", JR_REQUIRED, 1,
	    &tr->upto_minutes, e) != 0)
		return -1;
	if (i > 0 && tr->upto_minutes <= tr[-1].upto_minutes) {
		jpath_key(q, p, "upto_minutes");
		return jerr_set(e, q, "must be greater than "
		    "tiers[%zu].upto_minutes", i - 1);
	}
	return read_amount(el, p, "amount", JR_REQUIRED, 0, &tr->amount, e);
}

static int
read_classes(tariff *t, const cJSON *obj, const char *path, struct jerr *e)
{
	char p[JPATH_MAX], q[JPATH_MAX];
	const cJSON *cm = NULL, *m;
	int n;

	if (jr_object(obj, path, "class_multiplier", 0, NULL, &cm, e) < 0)
		return -1;
	jpath_key(p, path, "class_multiplier");
	n = cm != NULL ? cJSON_GetArraySize(cm) : 0;
	if (n > TARIFF_MAX_ENTRIES)
		return jerr_set(e, p, "must have at most %d members",
		    TARIFF_MAX_ENTRIES);
	if (n == 0)
		return 0;
	t->classes = calloc((size_t)n, sizeof(*t->classes));
	if (t->classes == NULL)
		return jerr_nomem(e, p);
	cJSON_ArrayForEach(m, cm) {
		struct tariff_class *c = &t->classes[t->nclasses];
		size_t len = strlen(m->string);

		jpath_key(q, p, m->string);
		if (len == 0)
			return jerr_set(e, q, "class name must not be empty");
		if (read_mult(m, q, NULL, 0, &c->milli, e) != 0)
			return -1;
		c->name = malloc(len + 1);
		if (c->name == NULL)
			return jerr_nomem(e, p);
		memcpy(c->name, m->string, len + 1);
		t->nclasses++;
	}
	return 0;
}

static int
read_days(const cJSON *obj, const char *path, unsigned *days, struct jerr *e)
{
	char p[JPATH_MAX], q[JPATH_MAX];
	const cJSON *arr = NULL, *d;
	size_t n = 0, i = 0;
	int k;

	if (jr_array(obj, path, "days", JR_REQUIRED, TARIFF_MAX_ENTRIES, &arr,
	    &n, e) < 0)
		return -1;
	jpath_key(p, path, "days");
	if (n == 0)
		return jerr_set(e, p, "must not be empty");
	*days = 0;
	cJSON_ArrayForEach(d, arr) {
		jpath_index(q, p, i++);
		if (jr_enum(d, q, NULL, 0, tariff_days, &k, e) < 0)
			return -1;
		if (*days & TARIFF_DAY_BIT(k))
			return jerr_set(e, q, "duplicate day \"%s\"",
			    tariff_days[k]);
		*days |= TARIFF_DAY_BIT(k);
	}
	return 0;
}

static int
read_peak(void *items, size_t i, const cJSON *el, const char *p,
    struct jerr *e)
{
	struct tariff_peak *pk = (struct tariff_peak *)items + i;
	char q[JPATH_MAX];

	if (read_days(el, p, &pk->days, e) != 0 ||
	    read_hhmm(el, p, "from", 0, &pk->from_min, e) != 0 ||
	    read_hhmm(el, p, "to", 1, &pk->to_min, e) != 0)
		return -1;
	if (pk->to_min <= pk->from_min) {
		jpath_key(q, p, "to");
		return jerr_set(e, q, "must be later than from");
	}
	return read_mult(el, p, "multiplier", JR_REQUIRED, &pk->milli, e);
}

static int
read_surge(void *items, size_t i, const cJSON *el, const char *p,
    struct jerr *e)
{
	struct tariff_surge *s = (struct tariff_surge *)items + i;
	char q[JPATH_MAX];
	int64_t ppm = 0;

	if (jr_fixed(el, p, "occupancy_at_least", JR_REQUIRED, 6, 0, PPM, &ppm,
	    e) < 0)
		return -1;
	s->at_ppm = (uint32_t)ppm;
	if (i > 0 && s->at_ppm <= s[-1].at_ppm) {
		jpath_key(q, p, "occupancy_at_least");
		return jerr_set(e, q, "must be greater than "
		    "surge[%zu].occupancy_at_least", i - 1);
	}
	return read_mult(el, p, "multiplier", JR_REQUIRED, &s->milli, e);
}

/* tiers, peak and surge. */
static int
read_lists(tariff *t, const cJSON *obj, const char *path, struct jerr *e)
{
	static const char *const tier_keys[] = { "upto_minutes", "amount",
	    NULL };
	static const char *const peak_keys[] = { "days", "from", "to",
	    "multiplier", NULL };
	static const char *const surge_keys[] = { "occupancy_at_least",
	    "multiplier", NULL };

	void *tiers = NULL, *peaks = NULL, *surges = NULL;
	int rc;

	rc = read_list(obj, path, "tiers", tier_keys, &tiers, sizeof(*t->tiers),
	    &t->ntiers, read_tier, e) ||
	    read_list(obj, path, "peak", peak_keys, &peaks, sizeof(*t->peaks),
	    &t->npeaks, read_peak, e) ||
	    read_list(obj, path, "surge", surge_keys, &surges,
	    sizeof(*t->surges), &t->nsurges, read_surge, e) ? -1 : 0;
	/* Whatever was allocated is the tariff's, to free on failure too. */
	t->tiers = tiers;
	t->peaks = peaks;
	t->surges = surges;
	return rc;
}

/* At least one tier: free parking is a tier of amount 0, not no tiers. */
static int
need_tiers(const tariff *t, const char *path, struct jerr *e)
{
	char p[JPATH_MAX];

	if (t->ntiers > 0)
		return 0;
	jpath_key(p, path, "tiers");
	return jerr_set(e, p, "needs at least one tier (free parking is a tier "
	    "with amount 0)");
}

tariff *
tariff_from_json(const cJSON *obj, const char *path, struct jerr *e)
{
	static const char *const keys[] = {
		"free_minutes", "increment_minutes", "tiers",
		"overage_per_hour", "daily_max", "class_multiplier", "peak",
		"surge", "max_multiplier", "lost_ticket", "grace_minutes", NULL
	};
	tariff *t;

	if (path == NULL)
		path = "tariff";
	if (jr_keys(obj, path, keys, NULL, e) != 0)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		jerr_nomem(e, path);
		return NULL;
	}
	/* Defaults: see tariff.h. */
	t->increment_minutes = 1;
	t->daily_max = -1;
	/*
	 * The keys every tariff must give (config.md "Tariff"): an empty
	 * object would silently make parking free for everyone entering.
	 */
	if (read_amount(obj, path, "free_minutes", JR_REQUIRED, 0,
	    &t->free_minutes, e) ||
	    read_amount(obj, path, "increment_minutes", JR_REQUIRED, 1,
	    &t->increment_minutes, e) ||
	    read_amount(obj, path, "overage_per_hour", JR_REQUIRED, 0,
	    &t->overage_per_hour, e) ||
	    read_amount(obj, path, "lost_ticket", JR_REQUIRED, 0, &t->lost_ticket, e) ||
	    read_amount(obj, path, "grace_minutes", JR_REQUIRED, 0,
	    &t->grace_minutes, e) ||
	    read_amount(obj, path, "daily_max", JR_NULL, 0, &t->daily_max, e) ||
	    read_mult(obj, path, "max_multiplier", JR_NULL, &t->max_milli, e) ||
	    read_classes(t, obj, path, e) || read_lists(t, obj, path, e) ||
	    need_tiers(t, path, e)) {
		tariff_free(t);
		return NULL;
	}
	return t;
}

