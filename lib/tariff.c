/* tariff.c - tariff configuration, multipliers and the fee of config.md. */
#include "tariff.h"

#include <stdlib.h>
#include <string.h>

#include "jread.h"

/* Bounds on configured values (see tariff.h). */
#define AMOUNT_MAX	1000000000LL	/* amounts and minutes */
#define MULT_MAX_MILLI	100000		/* a multiplier is at most 100 */
#define PPM		1000000		/* occupancy thresholds: 6 decimals */

struct tariff_tier {
	int64_t upto_minutes;
	int64_t amount;
};

struct tariff_class {
	char *name;			/* owned */
	int32_t milli;
};

struct tariff_peak {
	unsigned days;			/* bit w set: local weekday w (0 = Sunday) */
	int from_min, to_min;		/* minutes after local midnight, from < to */
	int32_t milli;
};

struct tariff_surge {
	uint32_t at_ppm;		/* occupancy_at_least in millionths */
	int32_t milli;
};

/*
 * Every value is validated on construction, so the fee code below never
 * checks again: tiers are strictly increasing, thresholds too, multipliers
 * are 1..MULT_MAX_MILLI, amounts and minutes 0..AMOUNT_MAX (increment >= 1).
 */
struct tariff {
	int64_t free_minutes;
	int64_t increment_minutes;
	int64_t overage_per_hour;
	int64_t daily_max;		/* -1: none */
	int64_t lost_ticket;
	int64_t grace_minutes;
	int32_t max_milli;		/* 0: no cap */
	size_t ntiers, nclasses, npeaks, nsurges;
	struct tariff_tier *tiers;
	struct tariff_class *classes;
	struct tariff_peak *peaks;
	struct tariff_surge *surges;
};

/* Weekday names in config order; the bit of each is its tz_local wday. */
static const struct {
	const char *name;
	int wday;
} day_names[7] = {
	{ "mon", 1 }, { "tue", 2 }, { "wed", 3 }, { "thu", 4 },
	{ "fri", 5 }, { "sat", 6 }, { "sun", 0 },
};

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

/*
 * The array member key of obj, at most TARIFF_MAX_ENTRIES long; *items
 * gets n zeroed elements of size each (NULL when empty or absent).
 */
static int
read_list(const cJSON *obj, const char *path, const char *key,
    const cJSON **arr, size_t *n, void **items, size_t size, struct jerr *e)
{
	char p[JPATH_MAX];

	*arr = NULL;
	*n = 0;
	if (jr_array(obj, path, key, 0, TARIFF_MAX_ENTRIES, arr, n, e) < 0)
		return -1;
	if (*n == 0)
		return 0;
	if ((*items = calloc(*n, size)) == NULL) {
		jpath_key(p, path, key);
		return jerr_nomem(e, p);
	}
	return 0;
}

static int
read_tiers(tariff *t, const cJSON *obj, const char *path, struct jerr *e)
{
	static const char *const keys[] = { "upto_minutes", "amount", NULL };
	char lp[JPATH_MAX], p[JPATH_MAX], q[JPATH_MAX];
	const cJSON *arr, *el;
	size_t n, i = 0;

	if (read_list(obj, path, "tiers", &arr, &n, (void **)&t->tiers,
	    sizeof(*t->tiers), e) != 0)
		return -1;
	jpath_key(lp, path, "tiers");
	cJSON_ArrayForEach(el, arr) {
		struct tariff_tier *tr = &t->tiers[i];

		jpath_index(p, lp, i);
		if (jr_object(el, p, NULL, 0, keys, &el, e) < 0 ||
		    read_amount(el, p, "upto_minutes", JR_REQUIRED, 1,
		    &tr->upto_minutes, e) != 0)
			return -1;
		if (i > 0 && tr->upto_minutes <= t->tiers[i - 1].upto_minutes) {
			jpath_key(q, p, "upto_minutes");
			return jerr_set(e, q, "must be greater than "
			    "tiers[%zu].upto_minutes", i - 1);
		}
		if (read_amount(el, p, "amount", JR_REQUIRED, 0, &tr->amount,
		    e) != 0)
			return -1;
		t->ntiers = ++i;
	}
	return 0;
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
	static const char *const names[] = { "mon", "tue", "wed", "thu", "fri",
	    "sat", "sun", NULL };
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
		if (jr_enum(d, q, NULL, 0, names, &k, e) < 0)
			return -1;
		if (*days & (1u << day_names[k].wday))
			return jerr_set(e, q, "duplicate day \"%s\"",
			    day_names[k].name);
		*days |= 1u << day_names[k].wday;
	}
	return 0;
}

static int
read_peaks(tariff *t, const cJSON *obj, const char *path, struct jerr *e)
{
	static const char *const keys[] = {
		"days", "from", "to", "multiplier", NULL
	};
	char lp[JPATH_MAX], p[JPATH_MAX], q[JPATH_MAX];
	const cJSON *arr, *el;
	size_t n, i = 0;

	if (read_list(obj, path, "peak", &arr, &n, (void **)&t->peaks,
	    sizeof(*t->peaks), e) != 0)
		return -1;
	jpath_key(lp, path, "peak");
	cJSON_ArrayForEach(el, arr) {
		struct tariff_peak *pk = &t->peaks[i];

		jpath_index(p, lp, i);
		if (jr_object(el, p, NULL, 0, keys, &el, e) < 0 ||
		    read_days(el, p, &pk->days, e) != 0 ||
		    read_hhmm(el, p, "from", 0, &pk->from_min, e) != 0 ||
		    read_hhmm(el, p, "to", 1, &pk->to_min, e) != 0)
			return -1;
		if (pk->to_min <= pk->from_min) {
			jpath_key(q, p, "to");
			return jerr_set(e, q, "must be later than from");
		}
		if (read_mult(el, p, "multiplier", JR_REQUIRED, &pk->milli, e) != 0)
			return -1;
		t->npeaks = ++i;
	}
	return 0;
}

static int
read_surges(tariff *t, const cJSON *obj, const char *path, struct jerr *e)
{
	static const char *const keys[] = {
		"occupancy_at_least", "multiplier", NULL
	};
	char lp[JPATH_MAX], p[JPATH_MAX], q[JPATH_MAX];
	const cJSON *arr, *el;
	size_t n, i = 0;

	if (read_list(obj, path, "surge", &arr, &n, (void **)&t->surges,
	    sizeof(*t->surges), e) != 0)
		return -1;
	jpath_key(lp, path, "surge");
	cJSON_ArrayForEach(el, arr) {
		struct tariff_surge *s = &t->surges[i];
		int64_t ppm = 0;

		jpath_index(p, lp, i);
		if (jr_object(el, p, NULL, 0, keys, &el, e) < 0 ||
		    jr_fixed(el, p, "occupancy_at_least", JR_REQUIRED, 6, 0, PPM,
		    &ppm, e) < 0)
			return -1;
		s->at_ppm = (uint32_t)ppm;
		if (i > 0 && s->at_ppm <= t->surges[i - 1].at_ppm) {
			jpath_key(q, p, "occupancy_at_least");
			return jerr_set(e, q, "must be greater than "
			    "surge[%zu].occupancy_at_least", i - 1);
		}
		if (read_mult(el, p, "multiplier", JR_REQUIRED, &s->milli, e) != 0)
			return -1;
		t->nsurges = ++i;
	}
	return 0;
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
	if (read_amount(obj, path, "free_minutes", 0, 0, &t->free_minutes, e) ||
	    read_amount(obj, path, "increment_minutes", 0, 1,
	    &t->increment_minutes, e) ||
	    read_amount(obj, path, "overage_per_hour", 0, 0,
	    &t->overage_per_hour, e) ||
	    read_amount(obj, path, "lost_ticket", 0, 0, &t->lost_ticket, e) ||
	    read_amount(obj, path, "grace_minutes", 0, 0, &t->grace_minutes, e) ||
	    read_amount(obj, path, "daily_max", JR_NULL, 0, &t->daily_max, e) ||
	    read_mult(obj, path, "max_multiplier", JR_NULL, &t->max_milli, e) ||
	    read_tiers(t, obj, path, e) || read_classes(t, obj, path, e) ||
	    read_peaks(t, obj, path, e) || read_surges(t, obj, path, e)) {
		tariff_free(t);
		return NULL;
	}
	return t;
}

void
tariff_free(tariff *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nclasses; i++)
		free(t->classes[i].name);
	free(t->classes);
	free(t->tiers);
	free(t->peaks);
	free(t->surges);
	free(t);
}

/* ---- back to JSON ---- */

static void
write_hhmm(struct jw *w, const char *key, int minutes)
{
	char buf[5] = { (char)('0' + minutes / 600 % 10), (char)('0' + minutes / 60 % 10),
	    ':', (char)('0' + minutes % 60 / 10), (char)('0' + minutes % 10) };

	jw_key(w, key);
	jw_strn(w, buf, sizeof(buf));
}

static void
write_peak(struct jw *w, const struct tariff_peak *pk)
{
	jw_obj(w);
	jw_key(w, "days");
	jw_arr(w);
	for (size_t k = 0; k < 7; k++) {
		if (pk->days & (1u << day_names[k].wday))
			jw_str(w, day_names[k].name);
	}
	jw_arr_end(w);
	write_hhmm(w, "from", pk->from_min);
	write_hhmm(w, "to", pk->to_min);
	jw_kmilli(w, "multiplier", pk->milli);
	jw_obj_end(w);
}

void
tariff_write(const tariff *t, struct jw *w)
{
	size_t i;

	jw_obj(w);
	jw_kint(w, "free_minutes", t->free_minutes);
	jw_kint(w, "increment_minutes", t->increment_minutes);
	jw_key(w, "tiers");
	jw_arr(w);
	for (i = 0; i < t->ntiers; i++) {
		jw_obj(w);
		jw_kint(w, "upto_minutes", t->tiers[i].upto_minutes);
		jw_kint(w, "amount", t->tiers[i].amount);
		jw_obj_end(w);
	}
	jw_arr_end(w);
	jw_kint(w, "overage_per_hour", t->overage_per_hour);
	if (t->daily_max < 0)
		jw_knull(w, "daily_max");
	else
		jw_kint(w, "daily_max", t->daily_max);
	jw_key(w, "class_multiplier");
	jw_obj(w);
	for (i = 0; i < t->nclasses; i++)
		jw_kmilli(w, t->classes[i].name, t->classes[i].milli);
	jw_obj_end(w);
	jw_key(w, "peak");
	jw_arr(w);
	for (i = 0; i < t->npeaks; i++)
		write_peak(w, &t->peaks[i]);
	jw_arr_end(w);
	jw_key(w, "surge");
	jw_arr(w);
	for (i = 0; i < t->nsurges; i++) {
		jw_obj(w);
		jw_key(w, "occupancy_at_least");
		jw_fixed(w, t->surges[i].at_ppm, 6);
		jw_kmilli(w, "multiplier", t->surges[i].milli);
		jw_obj_end(w);
	}
	jw_arr_end(w);
	if (t->max_milli == 0)
		jw_knull(w, "max_multiplier");
	else
		jw_kmilli(w, "max_multiplier", t->max_milli);
	jw_kint(w, "lost_ticket", t->lost_ticket);
	jw_kint(w, "grace_minutes", t->grace_minutes);
	jw_obj_end(w);
}

/* ---- multipliers ---- */

size_t
tariff_class_count(const tariff *t)
{
	return t == NULL ? 0 : t->nclasses;
}

const char *
tariff_class_name(const tariff *t, size_t i)
{
	return t->classes[i].name;
}

int32_t
tariff_class_milli(const tariff *t, const char *vehicle_class)
{
	size_t i;

	if (t == NULL || vehicle_class == NULL)
		return 1000;
	for (i = 0; i < t->nclasses; i++)
		if (strcmp(t->classes[i].name, vehicle_class) == 0)
			return t->classes[i].milli;
	return 1000;
}

int32_t
tariff_peak_milli(const tariff *t, const tz *z, int64_t entered)
{
	struct tz_local l;
	int64_t sod;
	size_t i;

	if (t == NULL || t->npeaks == 0)
		return 1000;
	tz_localtime(z, entered, &l);
	/* Seconds count: 09:29:59 is still inside a window ending 09:30. */
	sod = (int64_t)l.hour * 3600 + l.minute * 60 + l.second;
	for (i = 0; i < t->npeaks; i++) {
		const struct tariff_peak *pk = &t->peaks[i];

		if ((pk->days & (1u << l.wday)) &&
		    sod >= (int64_t)pk->from_min * 60 &&
		    sod < (int64_t)pk->to_min * 60)
			return pk->milli;
	}
	return 1000;
}

int32_t
tariff_surge_milli(const tariff *t, uint64_t occupied, uint64_t total)
{
	int32_t milli = 1000;
	size_t i;

	if (t == NULL || total == 0)
		return 1000;
	/*
	 * occupied / total >= at_ppm / 10^6, cross-multiplied in 128 bits:
	 * exact, where doubles could put 9/10 on either side of 0.9.
	 */
	for (i = 0; i < t->nsurges; i++) {
		if ((unsigned __int128)occupied * PPM >=
		    (unsigned __int128)t->surges[i].at_ppm * total)
			milli = t->surges[i].milli;
		else
			break;		/* thresholds are increasing */
	}
	return milli;
}

/* ---- the fee ---- */

static int64_t
sat_amount(__int128 v)
{
	if (v > TARIFF_AMOUNT_MAX)
		return TARIFF_AMOUNT_MAX;
	return v < 0 ? 0 : (int64_t)v;
}

static int32_t
sat_milli(int64_t v)
{
	if (v > INT32_MAX)
		return INT32_MAX;
	return v < 0 ? 0 : (int32_t)v;
}

/*
 * Step 4 without the cap: the first tier reaching r, else the last tier
 * plus started hours of overage (with no tiers, "the last tier" is 0
 * minutes for 0).  r is at most 1440 here, so nothing overflows.
 */
static int64_t
day_uncapped(const tariff *t, int64_t r)
{
	int64_t last_upto = 0, last_amount = 0;
	size_t i;

	if (r <= 0)
		return 0;
	for (i = 0; i < t->ntiers; i++)
		if (t->tiers[i].upto_minutes >= r)
			return t->tiers[i].amount;
	if (t->ntiers > 0) {
		last_upto = t->tiers[t->ntiers - 1].upto_minutes;
		last_amount = t->tiers[t->ntiers - 1].amount;
	}
	return last_amount + (r - last_upto + 59) / 60 * t->overage_per_hour;
}

static int64_t
day_amount(const tariff *t, int64_t r)
{
	int64_t a = day_uncapped(t, r);

	if (t->daily_max >= 0 && a > t->daily_max)
		a = t->daily_max;
	return a;
}

int64_t
tariff_fee(const tariff *t, int64_t entered, int64_t at, int32_t class_milli,
    int32_t peak_milli, int32_t surge_milli, struct tariff_quote *q)
{
	struct tariff_quote l;
	int64_t per_day, m;

	memset(&l, 0, sizeof(l));
	/* Step 1.  The difference can exceed INT64_MAX: subtract unsigned. */
	if (at > entered) {
		uint64_t d = (uint64_t)at - (uint64_t)entered;

		l.duration_s = d > INT64_MAX ? INT64_MAX : (int64_t)d;
	}
	/* Step 6, truncating to thousandths after each multiplication. */
	l.class_milli = class_milli < 0 ? 0 : class_milli;
	l.peak_milli = peak_milli < 0 ? 0 : peak_milli;
	l.surge_milli = surge_milli < 0 ? 0 : surge_milli;
	m = sat_milli((int64_t)l.class_milli * l.peak_milli / 1000);
	l.multiplier_milli = sat_milli(m * l.surge_milli / 1000);
	if (t != NULL && t->max_milli > 0 && l.multiplier_milli > t->max_milli)
		l.multiplier_milli = t->max_milli;

	l.free = t == NULL || l.duration_s <= 60 * t->free_minutes;
	if (!l.free) {
		/* Step 2: started minutes, up to a whole increment. */
		m = l.duration_s / 60 + (l.duration_s % 60 != 0);
		m = (m + t->increment_minutes - 1) / t->increment_minutes *
		    t->increment_minutes;
		l.minutes = m;
		/* Step 3. */
		l.days = m / 1440;
		l.rest_minutes = m % 1440;
		/* Steps 4 and 5. */
		l.day_amount = day_amount(t, l.rest_minutes);
		per_day = t->daily_max >= 0 ? t->daily_max :
		    day_uncapped(t, 1440);
		l.base = sat_amount((__int128)l.days * per_day + l.day_amount);
		/* Step 7: round half up to the minor unit. */
		l.fee = sat_amount(((__int128)l.base * l.multiplier_milli + 500) /
		    1000);
	}
	if (q != NULL)
		*q = l;
	return l.fee;
}

/* ---- breakdown ---- */

/* One step of a breakdown: {"step":name, ...members written by the caller}. */
static void
step(struct jw *w, const char *name)
{
	jw_obj(w);
	jw_kstr(w, "step", name);
}

void
tariff_breakdown_steps(const struct tariff_quote *q, struct jw *w)
{
	step(w, "duration");
	jw_kint(w, "seconds", q->duration_s);
	jw_obj_end(w);
	step(w, "free_minutes");
	jw_kbool(w, "free", q->free != 0);
	jw_obj_end(w);
	if (!q->free) {
		step(w, "rounded_minutes");
		jw_kint(w, "minutes", q->minutes);
		jw_obj_end(w);
		step(w, "days");
		jw_kint(w, "count", q->days);
		jw_kint(w, "amount", q->base - q->day_amount);
		jw_obj_end(w);
		step(w, "day");
		jw_kint(w, "minutes", q->rest_minutes);
		jw_kint(w, "amount", q->day_amount);
		jw_obj_end(w);
		step(w, "base");
		jw_kint(w, "amount", q->base);
		jw_obj_end(w);
		step(w, "multiplier");
		jw_kint(w, "class_milli", q->class_milli);
		jw_kint(w, "peak_milli", q->peak_milli);
		jw_kint(w, "surge_milli", q->surge_milli);
		jw_kint(w, "total_milli", q->multiplier_milli);
		jw_obj_end(w);
	}
	step(w, "fee");
	jw_kint(w, "amount", q->fee);
	jw_obj_end(w);
}

int64_t
tariff_lost_fee(const tariff *t)
{
	return t == NULL ? 0 : t->lost_ticket;
}

int64_t
tariff_grace_s(const tariff *t)
{
	return t == NULL ? 0 : t->grace_minutes * 60;
}
