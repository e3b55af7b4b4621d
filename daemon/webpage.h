/*
 * webpage.h - the live facility map served at GET / (daemon/www/map.html,
 * embedded into the binary at build time by scripts/embed.sh: one page,
 * no external resources).
 */
#ifndef PARKD_WEBPAGE_H
#define PARKD_WEBPAGE_H

#include <stddef.h>

extern const char webpage_map[];
extern const size_t webpage_map_len;

#endif
