/*
 * malloccount.c - an LD_PRELOAD allocation counter for `make bench`.
 *
 * Wraps malloc, calloc and realloc (and posix_memalign, aligned_alloc and
 * memalign, so an allocator detour cannot hide a call) with dlsym(RTLD_NEXT),
 * counts the calls, and at exit writes the counts to the file named by the
 * environment variable MALLOCCOUNT_OUT (nothing is written if it is unset):
 *
 *     12345            <- first line: allocations in all (what compare.py reads)
 *     malloc 10000
 *     calloc 2000
 *     realloc 300      (every realloc call, including realloc(NULL, n))
 *     aligned 45       (posix_memalign + aligned_alloc + memalign)
 *     free 11000       (informative; not part of the first line)
 *     bytes 7654321    (bytes requested by the counted calls)
 *
 * Build:  cc -shared -fPIC -O2 -o build/release/malloccount.so bench/malloccount.c -ldl
 * Use:    MALLOCCOUNT_OUT=/tmp/n LD_PRELOAD=$PWD/build/release/malloccount.so prog ...
 *
 * Counting is a relaxed atomic add per call, so threads are fine and the
 * overhead is a few nanoseconds. dlsym itself may allocate before the real
 * functions are known; those few early requests are served from a static
 * buffer and are not counted. The report is written by a destructor, so a
 * process that ends with _exit() or a fatal signal writes nothing; one that
 * exec()s another program passes the variables on and only the final
 * program writes.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static int (*real_posix_memalign)(void **, size_t, size_t);
static void *(*real_aligned_alloc)(size_t, size_t);
static void *(*real_memalign)(size_t, size_t);

static unsigned long long n_malloc, n_calloc, n_realloc, n_aligned, n_free, n_bytes;

#define COUNT(var, n) __atomic_fetch_add(&(var), (unsigned long long)(n), __ATOMIC_RELAXED)

/* Early allocations (from dlsym, before the real functions are known). */
static _Alignas(max_align_t) unsigned char boot[8192];
static size_t boot_used;
static int resolving;

static void *boot_alloc(size_t n)
{
	size_t align = _Alignof(max_align_t);
	size_t off = (boot_used + align - 1) & ~(align - 1);

	if (n > sizeof(boot) - off)
		return NULL;
	boot_used = off + n;
	return boot + off;
}

static int is_boot(const void *p)
{
	return (const unsigned char *)p >= boot && (const unsigned char *)p < boot + sizeof(boot);
}

static void resolve(void)
{
	if (real_free || resolving)
		return;
	resolving = 1;
	real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
	real_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
	real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
	real_posix_memalign = (int (*)(void **, size_t, size_t))dlsym(RTLD_NEXT, "posix_memalign");
	real_aligned_alloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "aligned_alloc");
	real_memalign = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "memalign");
	real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
	resolving = 0;
}

__attribute__((constructor)) static void malloccount_init(void)
{
	resolve();
}

void *malloc(size_t n)
{
	if (!real_malloc) {
		if (resolving)
			return boot_alloc(n);
		resolve();
		if (!real_malloc)
			return NULL;
	}
	COUNT(n_malloc, 1);
	COUNT(n_bytes, n);
	return real_malloc(n);
}

void *calloc(size_t nmemb, size_t size)
{
	if (!real_calloc) {
		if (resolving) {
			/* The static buffer is zero and never reused. */
			if (size && nmemb > SIZE_MAX / size)
				return NULL;
			return boot_alloc(nmemb * size);
		}
		resolve();
		if (!real_calloc)
			return NULL;
	}
	COUNT(n_calloc, 1);
	COUNT(n_bytes, nmemb * size);
	return real_calloc(nmemb, size);
}

void *realloc(void *p, size_t n)
{
	if (!real_realloc) {
		if (resolving)
			return p ? NULL : boot_alloc(n);
		resolve();
		if (!real_realloc)
			return NULL;
	}
	if (p && is_boot(p)) {
		/* Move an early block to the real heap (its size is unknown: copy
		 * what can have been in it). */
		size_t avail = (size_t)(boot + sizeof(boot) - (unsigned char *)p);
		void *q = malloc(n);
		if (q)
			memcpy(q, p, n < avail ? n : avail);
		return q;
	}
	COUNT(n_realloc, 1);
	COUNT(n_bytes, n);
	return real_realloc(p, n);
}

void free(void *p)
{
	if (!p || is_boot(p))
		return;
	if (!real_free)
		resolve();
	if (!real_free)
		return; /* cannot happen after a successful start; leak rather than crash */
	COUNT(n_free, 1);
	real_free(p);
}

int posix_memalign(void **out, size_t align, size_t n)
{
	if (!real_posix_memalign)
		resolve();
	if (!real_posix_memalign)
		return ENOMEM;
	COUNT(n_aligned, 1);
	COUNT(n_bytes, n);
	return real_posix_memalign(out, align, n);
}

void *aligned_alloc(size_t align, size_t n)
{
	if (!real_aligned_alloc)
		resolve();
	if (!real_aligned_alloc)
		return NULL;
	COUNT(n_aligned, 1);
	COUNT(n_bytes, n);
	return real_aligned_alloc(align, n);
}

void *memalign(size_t align, size_t n)
{
	if (!real_memalign)
		resolve();
	if (!real_memalign)
		return NULL;
	COUNT(n_aligned, 1);
	COUNT(n_bytes, n);
	return real_memalign(align, n);
}

static unsigned long long load(unsigned long long *v)
{
	return __atomic_load_n(v, __ATOMIC_RELAXED);
}

__attribute__((destructor)) static void malloccount_report(void)
{
	const char *path = getenv("MALLOCCOUNT_OUT");
	unsigned long long m = load(&n_malloc), c = load(&n_calloc), r = load(&n_realloc),
			   a = load(&n_aligned), f = load(&n_free), b = load(&n_bytes);
	char buf[512];
	int len, fd;
	ssize_t w;

	if (!path || !*path)
		return;
	len = snprintf(buf, sizeof(buf),
		       "%llu\nmalloc %llu\ncalloc %llu\nrealloc %llu\naligned %llu\nfree %llu\n"
		       "bytes %llu\n",
		       m + c + r + a, m, c, r, a, f, b);
	if (len <= 0 || (size_t)len >= sizeof(buf))
		return;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	w = write(fd, buf, (size_t)len);
	(void)w;
	close(fd);
}
