/*
 * facility_load.h - builds the facility model (facility.h) from the
 * "facility" and "vehicles" sections of the configuration (config.md),
 * and reads tag lists against it.
 *
 * Kept apart from facility.h so that the model's users never see cJSON.
 */
#ifndef PARKD_FACILITY_LOAD_H
#define PARKD_FACILITY_LOAD_H

#include <stdint.h>

#include "facility.h"
#include "json.h"

/*
 * Builds a facility from the "facility" object and the "vehicles" object
 * (NULL or a JSON null: the four default classes of config.md, keeping
 * only the types some row has).  Neither tree is kept or modified.
 * Returns NULL on error, with one message naming the key path in e, e.g.
 * "facility.rows[3].count: must be between 1 and 16777216".  The caller
 * owns the result.
 */
facility *facility_from_json(const cJSON *fac, const cJSON *vehicles,
    struct jerr *e);

/*
 * Turns needs, an array of tag names at path ("params.needs"), into a
 * mask of facility_tag_lookup bits.  NULL or an empty array gives 0.
 * Returns 0, or -1 (mask 0) with e set when needs is not an array or an
 * element is not a string or names a tag no row has.
 */
int facility_tags_mask(const facility *f, const cJSON *needs,
    const char *path, uint64_t *mask, struct jerr *e);

#endif
