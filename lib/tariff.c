/* tariff.c - tariff configuration, multipliers and the fee of config.md. */
#include "tariff.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bounds on configured values (see tariff.h). */
#define AMOUNT_MAX	1000000000LL	/* amounts and minutes */
#define MULT_MAX_MILLI	100000		/* a multiplier is at most 100 */
#define PPM		1000000		/* occupancy thresholds: 6 decimals */
#define PATH_LEN	256

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

/* Weekday names in config order; the bit of each is its local_time wday. */
static const struct {
	const char *name;
	int wday;
} day_names[7] = {
	{ "mon", 1 }, { "tue", 2 }, { "wed", 3 }, { "thu", 4 },
	{ "fri", 5 }, { "sat", 6 }, { "sun", 0 },
};

/* ---- errors ---- */

struct terr {
	char *buf;
	size_t len;
};

/* Writes "path: message" into e; always returns -1 for "return fail(...)". */
static int fail(struct terr *e, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(struct terr *e, const char *path, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (e->buf == NULL || e->len == 0)
		return -1;
	n = snprintf(e->buf, e->len, "%s: ", path);
	if (n < 0 || (size_t)n >= e->len)
		return -1;
	va_start(ap, fmt);
	vsnprintf(e->buf + n, e->len - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* Marks a path cut short by PATH_LEN, so the message does not mislead. */
static void
mark_truncated(char *buf, int n)
{
	if (n < 0 || n >= PATH_LEN)
		memcpy(buf + PATH_LEN - 4, "...", 4);
}

static void
key_path(char *buf, const char *path, const char *key)
{
	mark_truncated(buf, snprintf(buf, PATH_LEN, "%s.%s", path, key));
}

static void
index_path(char *buf, const char *path, size_t i)
{
	mark_truncated(buf, snprintf(buf, PATH_LEN, "%s[%zu]", path, i));
}

/* ---- checked readers ---- */

/*
 * obj must be an object whose members are all in allowed (NULL: any name)
 * and whose names are distinct.  cJSON keeps duplicate members as siblings
 * and its getters return the first, so a duplicate would silently hide a
 * value: refuse it.  Objects here are capped at TARIFF_MAX_ENTRIES members,
 * so the quadratic check is cheap.
 */
static int
check_object(const cJSON *obj, const char *path, const char *const *allowed,
    struct terr *e)
{
	const cJSON *m, *o;
	char p[PATH_LEN];
	size_t n = 0, i;

	if (!cJSON_IsObject(obj))
		return fail(e, path, "must be an object");
	cJSON_ArrayForEach(m, obj) {
		int ok = allowed == NULL;

		/* Only a tree built by hand can have a nameless member. */
		if (m->string == NULL)
			return fail(e, path, "member without a name");
		if (++n > TARIFF_MAX_ENTRIES)
			return fail(e, path, "must have at most %d members",
			    TARIFF_MAX_ENTRIES);
		key_path(p, path, m->string);
		for (i = 0; !ok && allowed[i] != NULL; i++)
			ok = strcmp(allowed[i], m->string) == 0;
		if (!ok)
			return fail(e, p, "unknown key");
		for (o = obj->child; o != m; o = o->next)
			if (strcmp(o->string, m->string) == 0)
				return fail(e, p, "duplicate key");
	}
	return 0;
}

/* An integral number in [min, max] (doubles: also finite). */
static int
read_int(const cJSON *item, const char *p, int64_t min, int64_t max,
    int64_t *out, struct terr *e)
{
	double v;

	if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble))
		return fail(e, p, "must be an integer");
	v = item->valuedouble;
	if (v < (double)min)
		return fail(e, p, "must be at least %lld", (long long)min);
	if (v > (double)max)
		return fail(e, p, "must be at most %lld", (long long)max);
	/* In range, so the conversion is defined; a fraction would be lost. */
	if ((double)(int64_t)v != v)
		return fail(e, p, "must be an integer");
	*out = (int64_t)v;
	return 0;
}

/* An optional integer member; *out keeps its default when absent. */
static int
get_int(const cJSON *obj, const char *path, const char *key, int64_t min,
    int64_t max, int64_t *out, struct terr *e)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
	char p[PATH_LEN];

	if (item == NULL)
		return 0;
	key_path(p, path, key);
	return read_int(item, p, min, max, out, e);
}

/* A required member of an array element. */
static const cJSON *
need(const cJSON *obj, const char *path, const char *key, struct terr *e)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
	char p[PATH_LEN];

	if (item == NULL) {
		key_path(p, path, key);
		fail(e, p, "is required");
	}
	return item;
}

/*
 * A decimal number with at most `decimals` digits after the point, as an
 * integer count of 10^-decimals.  cJSON parses with strtod, which gives the
 * double nearest the decimal text; k / 10^decimals in double arithmetic is
 * correctly rounded too, so the two are equal exactly when the text had no
 * more digits than allowed.
 */
static int
read_fixed(const cJSON *item, const char *p, int decimals, double scale,
    int64_t *out, struct terr *e)
{
	double v, k;

	if (!cJSON_IsNumber(item))
		return fail(e, p, "must be a number");
	v = item->valuedouble;
	if (!isfinite(v))
		return fail(e, p, "must be a finite number");
	/* Far out of any range: let the caller's range check say so. */
	if (v > 1e9 || v < -1e9) {
		*out = v > 0 ? INT64_MAX : INT64_MIN;
		return 0;
	}
	/* Nearest integer (|v * scale| <= 1e15 is exact enough for that). */
	k = (double)(int64_t)(v * scale + (v < 0 ? -0.5 : 0.5));
	if (k / scale != v)
		return fail(e, p, "must have at most %d decimals", decimals);
	*out = (int64_t)k;
	return 0;
}

/* A multiplier: > 0, <= 100, at most three decimals, in thousandths. */
static int
read_mult(const cJSON *item, const char *p, int32_t *out, struct terr *e)
{
	int64_t k = 0;

	if (read_fixed(item, p, 3, 1000.0, &k, e) != 0)
		return -1;
	if (k <= 0)
		return fail(e, p, "must be greater than 0");
	if (k > MULT_MAX_MILLI)
		return fail(e, p, "must be at most %d", MULT_MAX_MILLI / 1000);
	*out = (int32_t)k;
	return 0;
}

/* An array of at most TARIFF_MAX_ENTRIES elements. */
static int
read_array(const cJSON *item, const char *p, size_t *n, struct terr *e)
{
	int size;

	if (!cJSON_IsArray(item))
		return fail(e, p, "must be an array");
	size = cJSON_GetArraySize(item);
	if (size > TARIFF_MAX_ENTRIES)
		return fail(e, p, "must have at most %d entries",
		    TARIFF_MAX_ENTRIES);
	*n = (size_t)size;
	return 0;
}

/* "HH:MM" as minutes after midnight; "24:00" only when allow_24. */
static int
read_hhmm(const cJSON *item, const char *p, int allow_24, int *out,
    struct terr *e)
{
	const char *s;
	int h, m;

	if (!cJSON_IsString(item) || item->valuestring == NULL)
		return fail(e, p, "must be a string \"HH:MM\"");
	s = item->valuestring;
	if (strlen(s) != 5 || s[2] != ':' || s[0] < '0' || s[0] > '9' ||
	    s[1] < '0' || s[1] > '9' || s[3] < '0' || s[3] > '9' ||
	    s[4] < '0' || s[4] > '9')
		return fail(e, p, "must be a string \"HH:MM\"");
	h = (s[0] - '0') * 10 + (s[1] - '0');
	m = (s[3] - '0') * 10 + (s[4] - '0');
	if (m > 59 || h > 24 || (h == 24 && (m != 0 || !allow_24)))
		return fail(e, p, "must be a time from 00:00 to %s",
		    allow_24 ? "24:00" : "23:59");
	*out = h * 60 + m;
	return 0;
}

/* ---- sections ---- */

static int
read_tiers(tariff *t, const cJSON *arr, const char *path, struct terr *e)
{
	static const char *const keys[] = { "upto_minutes", "amount", NULL };
	char p[PATH_LEN], q[PATH_LEN];
	const cJSON *el;
	size_t n = 0, i = 0;

	if (read_array(arr, path, &n, e) != 0)
		return -1;
	if (n == 0)
		return 0;
	t->tiers = calloc(n, sizeof(*t->tiers));
	if (t->tiers == NULL)
		return fail(e, path, "out of memory");
	cJSON_ArrayForEach(el, arr) {
		struct tariff_tier *tr = &t->tiers[i];
		const cJSON *up, *am;

		index_path(p, path, i);
		if (check_object(el, p, keys, e) != 0 ||
		    (up = need(el, p, "upto_minutes", e)) == NULL ||
		    (am = need(el, p, "amount", e)) == NULL)
			return -1;
		key_path(q, p, "upto_minutes");
		if (read_int(up, q, 1, AMOUNT_MAX, &tr->upto_minutes, e) != 0)
			return -1;
		if (i > 0 && tr->upto_minutes <= t->tiers[i - 1].upto_minutes)
			return fail(e, q, "must be greater than "
			    "tiers[%zu].upto_minutes", i - 1);
		key_path(q, p, "amount");
		if (read_int(am, q, 0, AMOUNT_MAX, &tr->amount, e) != 0)
			return -1;
		t->ntiers = ++i;
	}
	return 0;
}

static int
read_classes(tariff *t, const cJSON *obj, const char *path, struct terr *e)
{
	char p[PATH_LEN];
	const cJSON *m;
	size_t n = 0;

	if (check_object(obj, path, NULL, e) != 0)
		return -1;
	cJSON_ArrayForEach(m, obj)
		n++;
	if (n == 0)
		return 0;
	t->classes = calloc(n, sizeof(*t->classes));
	if (t->classes == NULL)
		return fail(e, path, "out of memory");
	cJSON_ArrayForEach(m, obj) {
		struct tariff_class *c = &t->classes[t->nclasses];
		size_t len = strlen(m->string);

		key_path(p, path, m->string);
		if (len == 0)
			return fail(e, p, "class name must not be empty");
		if (read_mult(m, p, &c->milli, e) != 0)
			return -1;
		c->name = malloc(len + 1);
		if (c->name == NULL)
			return fail(e, path, "out of memory");
		memcpy(c->name, m->string, len + 1);
		t->nclasses++;
	}
	return 0;
}

static int
read_days(const cJSON *arr, const char *path, unsigned *days, struct terr *e)
{
	char p[PATH_LEN];
	const cJSON *d;
	size_t n = 0, i = 0, k;

	if (read_array(arr, path, &n, e) != 0)
		return -1;
	if (n == 0)
		return fail(e, path, "must not be empty");
	*days = 0;
	cJSON_ArrayForEach(d, arr) {
		index_path(p, path, i++);
		if (!cJSON_IsString(d) || d->valuestring == NULL)
			return fail(e, p, "must be one of mon, tue, wed, thu, "
			    "fri, sat, sun");
		for (k = 0; k < 7; k++)
			if (strcmp(d->valuestring, day_names[k].name) == 0)
				break;
		if (k == 7)
			return fail(e, p, "must be one of mon, tue, wed, thu, "
			    "fri, sat, sun");
		if (*days & (1u << day_names[k].wday))
			return fail(e, p, "duplicate day \"%s\"",
			    day_names[k].name);
		*days |= 1u << day_names[k].wday;
	}
	return 0;
}

static int
read_peaks(tariff *t, const cJSON *arr, const char *path, struct terr *e)
{
	static const char *const keys[] = {
		"days", "from", "to", "multiplier", NULL
	};
	char p[PATH_LEN], q[PATH_LEN];
	const cJSON *el;
	size_t n = 0, i = 0;

	if (read_array(arr, path, &n, e) != 0)
		return -1;
	if (n == 0)
		return 0;
	t->peaks = calloc(n, sizeof(*t->peaks));
	if (t->peaks == NULL)
		return fail(e, path, "out of memory");
	cJSON_ArrayForEach(el, arr) {
		struct tariff_peak *pk = &t->peaks[i];
		const cJSON *days, *from, *to, *mult;

		index_path(p, path, i);
		if (check_object(el, p, keys, e) != 0 ||
		    (days = need(el, p, "days", e)) == NULL ||
		    (from = need(el, p, "from", e)) == NULL ||
		    (to = need(el, p, "to", e)) == NULL ||
		    (mult = need(el, p, "multiplier", e)) == NULL)
			return -1;
		key_path(q, p, "days");
		if (read_days(days, q, &pk->days, e) != 0)
			return -1;
		key_path(q, p, "from");
		if (read_hhmm(from, q, 0, &pk->from_min, e) != 0)
			return -1;
		key_path(q, p, "to");
		if (read_hhmm(to, q, 1, &pk->to_min, e) != 0)
			return -1;
		if (pk->to_min <= pk->from_min)
			return fail(e, q, "must be later than from");
		key_path(q, p, "multiplier");
		if (read_mult(mult, q, &pk->milli, e) != 0)
			return -1;
		t->npeaks = ++i;
	}
	return 0;
}

static int
read_surges(tariff *t, const cJSON *arr, const char *path, struct terr *e)
{
	static const char *const keys[] = {
		"occupancy_at_least", "multiplier", NULL
	};
	char p[PATH_LEN], q[PATH_LEN];
	const cJSON *el;
	size_t n = 0, i = 0;

	if (read_array(arr, path, &n, e) != 0)
		return -1;
	if (n == 0)
		return 0;
	t->surges = calloc(n, sizeof(*t->surges));
	if (t->surges == NULL)
		return fail(e, path, "out of memory");
	cJSON_ArrayForEach(el, arr) {
		struct tariff_surge *s = &t->surges[i];
		const cJSON *occ, *mult;
		int64_t ppm = 0;

		index_path(p, path, i);
		if (check_object(el, p, keys, e) != 0 ||
		    (occ = need(el, p, "occupancy_at_least", e)) == NULL ||
		    (mult = need(el, p, "multiplier", e)) == NULL)
			return -1;
		key_path(q, p, "occupancy_at_least");
		if (read_fixed(occ, q, 6, (double)PPM, &ppm, e) != 0)
			return -1;
		if (ppm < 0 || ppm > PPM)
			return fail(e, q, "must be between 0 and 1");
		s->at_ppm = (uint32_t)ppm;
		if (i > 0 && s->at_ppm <= t->surges[i - 1].at_ppm)
			return fail(e, q, "must be greater than "
			    "surge[%zu].occupancy_at_least", i - 1);
		key_path(q, p, "multiplier");
		if (read_mult(mult, q, &s->milli, e) != 0)
			return -1;
		t->nsurges = ++i;
	}
	return 0;
}

tariff *
tariff_from_json(const cJSON *obj, const char *path, char *err,
    size_t errlen)
{
	static const char *const keys[] = {
		"free_minutes", "increment_minutes", "tiers",
		"overage_per_hour", "daily_max", "class_multiplier", "peak",
		"surge", "max_multiplier", "lost_ticket", "grace_minutes", NULL
	};
	struct terr e = { err, errlen };
	char p[PATH_LEN];
	const cJSON *item;
	tariff *t;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (path == NULL)
		path = "tariff";
	if (check_object(obj, path, keys, &e) != 0)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		fail(&e, path, "out of memory");
		return NULL;
	}
	/* Defaults: see tariff.h. */
	t->increment_minutes = 1;
	t->daily_max = -1;
	if (get_int(obj, path, "free_minutes", 0, AMOUNT_MAX,
	    &t->free_minutes, &e) != 0 ||
	    get_int(obj, path, "increment_minutes", 1, AMOUNT_MAX,
	    &t->increment_minutes, &e) != 0 ||
	    get_int(obj, path, "overage_per_hour", 0, AMOUNT_MAX,
	    &t->overage_per_hour, &e) != 0 ||
	    get_int(obj, path, "lost_ticket", 0, AMOUNT_MAX,
	    &t->lost_ticket, &e) != 0 ||
	    get_int(obj, path, "grace_minutes", 0, AMOUNT_MAX,
	    &t->grace_minutes, &e) != 0)
		goto fail;
	item = cJSON_GetObjectItemCaseSensitive(obj, "daily_max");
	if (item != NULL && !cJSON_IsNull(item)) {
		key_path(p, path, "daily_max");
		if (read_int(item, p, 0, AMOUNT_MAX, &t->daily_max, &e) != 0)
			goto fail;
	}
	item = cJSON_GetObjectItemCaseSensitive(obj, "max_multiplier");
	if (item != NULL && !cJSON_IsNull(item)) {
		key_path(p, path, "max_multiplier");
		if (read_mult(item, p, &t->max_milli, &e) != 0)
			goto fail;
	}
	item = cJSON_GetObjectItemCaseSensitive(obj, "tiers");
	key_path(p, path, "tiers");
	if (item != NULL && read_tiers(t, item, p, &e) != 0)
		goto fail;
	item = cJSON_GetObjectItemCaseSensitive(obj, "class_multiplier");
	key_path(p, path, "class_multiplier");
	if (item != NULL && read_classes(t, item, p, &e) != 0)
		goto fail;
	item = cJSON_GetObjectItemCaseSensitive(obj, "peak");
	key_path(p, path, "peak");
	if (item != NULL && read_peaks(t, item, p, &e) != 0)
		goto fail;
	item = cJSON_GetObjectItemCaseSensitive(obj, "surge");
	key_path(p, path, "surge");
	if (item != NULL && read_surges(t, item, p, &e) != 0)
		goto fail;
	return t;
fail:
	tariff_free(t);
	return NULL;
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
tariff_peak_milli(const tariff *t, local_time_fn lt, void *lt_ud,
    int64_t entered)
{
	struct local_time l;
	int64_t sod;
	size_t i;

	if (t == NULL || t->npeaks == 0)
		return 1000;
	if (local_time_of(lt, lt_ud, entered, &l) != 0)
		return 1000;
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
