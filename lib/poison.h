/*
 * poison.h - memory a free list keeps for reuse is made unreadable under
 * AddressSanitizer, so that a use after "free" is still caught when the
 * block never goes back to malloc.  Nothing without ASan.
 */
#ifndef PARKD_POISON_H
#define PARKD_POISON_H

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/asan_interface.h>
#define MEM_POISON(p, n)	ASAN_POISON_MEMORY_REGION((p), (n))
#define MEM_UNPOISON(p, n)	ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define MEM_POISON(p, n)	((void)(p), (void)(n))
#define MEM_UNPOISON(p, n)	((void)(p), (void)(n))
#endif

#endif
