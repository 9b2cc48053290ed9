/* fdlimit.c - raise RLIMIT_NOFILE as far as the process is allowed. */
#include "fdlimit.h"

#include <stdio.h>
#include <sys/resource.h>

/* The kernel's ceiling for any process (fs.nr_open), or a safe default. */
static rlim_t nr_open(void)
{
	FILE *f = fopen("/proc/sys/fs/nr_open", "r");
	unsigned long long v = 0;

	if (f) {
		if (fscanf(f, "%llu", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v ? (rlim_t)v : 1048576;
}

uint64_t fdlimit_raise(uint64_t wanted)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < wanted) {
		/* Only a privileged process may raise the hard limit; others
		 * keep theirs and are told by the return value. */
		struct rlimit more = { (rlim_t)wanted, (rlim_t)wanted };
		if (more.rlim_max > nr_open())
			more.rlim_cur = more.rlim_max = nr_open();
		if (setrlimit(RLIMIT_NOFILE, &more) == 0)
			return more.rlim_cur;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	getrlimit(RLIMIT_NOFILE, &rl);
	return rl.rlim_cur;
}
