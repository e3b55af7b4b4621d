/* tariff.c - multipliers, the fee of config.md, the tariff as JSON (tariff.h). */
#include "tariff.h"

#include <stdlib.h>
#include <string.h>

#include "tariff_impl.h"

const char *const tariff_days[8] = {
	"mon", "tue", "wed", "thu", "fri", "sat", "sun", NULL
};

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

/* "from" and "to" of a peak window, as "HH:MM". */
static void
write_window(struct jw *w, int from_min, int to_min)
{
	const char *keys[2] = { "from", "to" };
	int minutes[2] = { from_min, to_min };

	for (int i = 0; i < 2; i++) {
		int m = minutes[i];
		char buf[5] = { (char)('0' + m / 600 % 10),
		    (char)('0' + m / 60 % 10), ':', (char)('0' + m % 60 / 10),
		    (char)('0' + m % 10) };

		jw_keyv(w, keys[i]);
		jw_strn(w, buf, sizeof(buf));
	}
}

/* A peak's days, in config order whatever order they were given in. */
static void
write_days(struct jw *w, unsigned days)
{
	jw_key(w, "days");
	jw_arr(w);
	for (size_t k = 0; k < 7; k++)
		if (days & TARIFF_DAY_BIT(k))
			jw_str(w, tariff_days[k]);
	jw_arr_end(w);
}

static void
write_peak(struct jw *w, const struct tariff_peak *pk)
{
	jw_obj(w);
	write_days(w, pk->days);
	write_window(w, pk->from_min, pk->to_min);
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
	for (i = 0; i < t->nclasses; i++) {
		jw_keyv(w, t->classes[i].name);
		jw_milli(w, t->classes[i].milli);
	}
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
	__int128 base;

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
		/*
		 * Kept wide until step 7: a base past TARIFF_AMOUNT_MAX times a
		 * multiplier below 1 can be a fee that fits, so only the fee
		 * saturates (the base in q is capped like every amount shown).
		 * k < 2^48 (2^64 s in days) and a day's amount < 2^35, so
		 * base * multiplier < 2^113 cannot overflow.
		 */
		base = (__int128)l.days * per_day + l.day_amount;
		l.base = sat_amount(base);
		/* Step 7: round half up to the minor unit. */
		l.fee = sat_amount((base * l.multiplier_milli + 500) / 1000);
	}
	if (q != NULL)
		*q = l;
	return l.fee;
}

/* ---- breakdown ---- */

/*
 * One step of a breakdown, {"step":name,k1:v1,k2:v2}, with k2 (or k1 and
 * k2) NULL for fewer members; left open when open is set.
 */
static void
step(struct jw *w, const char *name, const char *k1, int64_t v1,
    const char *k2, int64_t v2, int open)
{
	jw_obj(w);
	jw_kstr(w, "step", name);
	if (k1 != NULL) {
		jw_keyv(w, k1);
		jw_int(w, v1);
	}
	if (k2 != NULL) {
		jw_keyv(w, k2);
		jw_int(w, v2);
	}
	if (!open)
		jw_obj_end(w);
}

void
tariff_breakdown_steps(const struct tariff_quote *q, struct jw *w)
{
	step(w, "duration", "seconds", q->duration_s, NULL, 0, 0);
	step(w, "free_minutes", NULL, 0, NULL, 0, 1);
	jw_kbool(w, "free", q->free != 0);
	jw_obj_end(w);
	if (!q->free) {
		step(w, "rounded_minutes", "minutes", q->minutes, NULL, 0, 0);
		step(w, "days", "count", q->days, "amount",
		    q->base - q->day_amount, 0);
		step(w, "day", "minutes", q->rest_minutes, "amount",
		    q->day_amount, 0);
		step(w, "base", "amount", q->base, NULL, 0, 0);
		step(w, "multiplier", "class_milli", q->class_milli,
		    "peak_milli", q->peak_milli, 1);
		jw_kint(w, "surge_milli", q->surge_milli);
		jw_kint(w, "total_milli", q->multiplier_milli);
		jw_obj_end(w);
	}
	step(w, "fee", "amount", q->fee, NULL, 0, 0);
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
