/*
 * plog.c - the broker's append-only log of batches (plog.h): open and
 * replay, append, replacement by a snapshot.
 *
 * A new file (the first log, or a snapshot) is always written as
 * "<path>.new", fsynced and renamed over path, so path never names a file
 * shorter than its header or a snapshot whose data is not on disk.
 */
#include "plog.h"

#include "base/alloc.h"
#include "base/array.h"
#include "base/crc32c.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define PLOG_MAGIC "AGORALOG"
#define PLOG_MAGIC_LEN 8
/* What a replay reads at once (and its buffer's first size): many small
 * batches per pread(2). Also the unit a damaged tail is copied in. */
#define PLOG_CHUNK (64u * 1024)
/* Created files hold clients' messages: readable by the broker's user only. */
#define PLOG_MODE 0600

/* One open file of batches: the log, or the snapshot a rewrite builds. */
struct plog_file {
	int fd; /* -1 when closed */
	char *path;
	uint64_t size; /* the header and whole batches; the file offset is here */
	bool dirty;    /* a failed write left bytes past size that could not be
			* cut yet: cut them before anything else is written */
};

struct plog {
	struct plog_file f;
	enum plog_sync sync;
	struct plog_rewrite *rewrite; /* the one in progress, or NULL */
};

struct plog_rewrite {
	struct plog *l;
	struct plog_file f; /* "<path>.new" */
};

/* Why a replay stopped. */
enum replay_stop {
	REPLAY_END,     /* the file ends: between two batches, or inside one (torn) */
	REPLAY_DAMAGED, /* a whole batch with a bad length or checksum, or refused */
};

/* A replay's read buffer: buf[start, end) holds the file from off on. */
struct replay {
	int fd;
	uint8_t *buf;
	uint32_t cap; /* grows by base/array.h up to the largest batch */
	size_t start, end;
	uint64_t off, file_size;
	enum replay_stop stop;
};

/* ---- little helpers ---- */

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Writes the sentence into err (when given) and returns code. */
static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

/* "path: what: reason" for a negative errno code. */
static int file_fail(char *err, size_t errlen, int code, const char *path, const char *what)
{
	return fail(err, errlen, code, "%s: %s: %s", path, what, strerror(-code));
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void header_encode(uint8_t hdr[PLOG_HEADER_SIZE])
{
	memcpy(hdr, PLOG_MAGIC, PLOG_MAGIC_LEN);
	put_le32(hdr + 8, PLOG_VERSION);
	put_le32(hdr + 12, 0);
}

/* path followed by suffix, allocated. */
static char *path_with(const char *path, const char *suffix)
{
	size_t len = strlen(path) + strlen(suffix) + 1;
	char *s = xmalloc(len);

	snprintf(s, len, "%s%s", path, suffix);
	return s;
}

/* ---- system calls, retried ---- */

/* Reads up to len bytes at off, fewer only at the end of the file: how
 * many, or -errno. */
static ssize_t read_full(int fd, void *buf, size_t len, uint64_t off)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, (uint8_t *)buf + got, len - got, (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* Writes all of iov (consuming it) at the file offset, retrying short
 * writes and EINTR. 0 or -errno. */
static int write_all(int fd, struct iovec *iov, int iovcnt)
{
	while (iovcnt > 0) {
		ssize_t n = writev(fd, iov, iovcnt);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO; /* no progress and no reason: don't spin */
		for (; iovcnt > 0 && (size_t)n >= iov->iov_len; iov++, iovcnt--)
			n -= (ssize_t)iov->iov_len;
		if (iovcnt > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

/* fsyncs the directory holding path, so that a rename or a creation in it
 * survives a power loss. 0 or -errno. */
static int dir_sync(const char *path)
{
	const char *slash = strrchr(path, '/');
	size_t len = !slash ? 0 : slash == path ? 1 : (size_t)(slash - path);
	char *dir = slash ? xstrndup(path, len) : xstrdup(".");
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret = (fd < 0 || fsync(fd)) ? -errno : 0;

	if (fd >= 0)
		close(fd);
	free(dir);
	return ret;
}

/* ---- a file of batches ---- */

/* Cuts f back to its size (and moves the offset there), where a failed
 * write may have left part of a batch. 0 or -errno; f stays dirty until it
 * works. */
static int file_cut(struct plog_file *f)
{
	if (ftruncate(f->fd, (off_t)f->size) || lseek(f->fd, (off_t)f->size, SEEK_SET) < 0)
		return -errno;
	f->dirty = false;
	return 0;
}

/* Closes f and removes it: an unfinished "<path>.new". */
static void file_discard(struct plog_file *f)
{
	if (f->fd < 0)
		return;
	close(f->fd);
	f->fd = -1;
	unlink(f->path);
}

/* Creates (or empties) f->path holding only the header. */
static int file_create(struct plog_file *f, char *err, size_t errlen)
{
	uint8_t hdr[PLOG_HEADER_SIZE];
	struct iovec iov = { hdr, sizeof(hdr) };
	int ret;

	f->fd = open(f->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, PLOG_MODE);
	if (f->fd < 0)
		return file_fail(err, errlen, -errno, f->path, "cannot create");
	header_encode(hdr);
	ret = write_all(f->fd, &iov, 1);
	if (ret) {
		file_discard(f);
		return file_fail(err, errlen, ret, f->path, "cannot write the header");
	}
	f->size = PLOG_HEADER_SIZE;
	f->dirty = false;
	return 0;
}

/* Appends one batch, fdatasynced when sync. On failure the file is cut
 * back so no partial batch stays (or, if even that fails, marked dirty
 * and cut before the next write). */
static int file_append(struct plog_file *f, bool sync, const void *body, size_t len, char *err,
		       size_t errlen)
{
	uint8_t hdr[PLOG_BATCH_HEADER];
	struct iovec iov[2] = { { hdr, sizeof(hdr) }, { (void *)body, len } };
	int ret;

	if (len == 0 || len > PLOG_MAX_BATCH)
		return fail(err, errlen, -EINVAL, "%s: a batch of %zu bytes (1 to %u allowed)",
			    f->path, len, PLOG_MAX_BATCH);
	if (f->dirty && (ret = file_cut(f)))
		return file_fail(err, errlen, ret, f->path, "cannot cut a failed write");
	put_le32(hdr, (uint32_t)len);
	put_le32(hdr + 4, crc32c(0, body, len));
	ret = write_all(f->fd, iov, 2);
	if (!ret && sync && fdatasync(f->fd))
		ret = -errno;
	if (ret) {
		/* After a failed fdatasync too: the kernel may have dropped the
		 * pages, so the batch must not stay looking written. */
		f->dirty = true;
		file_cut(f);
		return file_fail(err, errlen, ret, f->path, "cannot append a batch");
	}
	f->size += PLOG_BATCH_HEADER + len;
	return 0;
}

/* ---- replacing the log by a new file ---- */

/* Makes nf (a complete "<path>.new") the log: fsync (a rename must not
 * publish a file whose data is not on disk), rename over l's path, switch
 * l to it, fsync the directory (so the rename survives a power loss).
 * A failure before the rename leaves l as it was and nf for the caller to
 * discard; from the rename on, l has the new file and nf->fd is -1. */
static int log_replace(struct plog *l, struct plog_file *nf, char *err, size_t errlen)
{
	int ret;

	if (nf->dirty && (ret = file_cut(nf)))
		return file_fail(err, errlen, ret, nf->path, "cannot cut a failed write");
	if (fsync(nf->fd))
		return file_fail(err, errlen, -errno, nf->path, "cannot fsync");
	if (rename(nf->path, l->f.path))
		return fail(err, errlen, -errno, "%s: cannot rename to %s: %s", nf->path,
			    l->f.path, strerror(errno));
	if (l->f.fd >= 0)
		close(l->f.fd);
	l->f.fd = nf->fd;
	l->f.size = nf->size;
	l->f.dirty = false;
	nf->fd = -1;
	ret = dir_sync(l->f.path);
	if (ret)
		return file_fail(err, errlen, ret, l->f.path,
				 "renamed, but its directory's fsync failed");
	return 0;
}

/* Puts a log holding only its header at l's path (replacing a short file
 * there), through "<path>.new". */
static int log_create(struct plog *l, char *err, size_t errlen)
{
	struct plog_file nf = { .fd = -1, .path = path_with(l->f.path, ".new") };
	int ret = file_create(&nf, err, errlen);

	if (!ret)
		ret = log_replace(l, &nf, err, errlen);
	file_discard(&nf);
	free(nf.path);
	return ret;
}

/* ---- opening ---- */

/* A file shorter than the header that is a beginning of one (bytes that
 * never reached the disk read as zeros) is a log whose creation a crash cut
 * short, to be rewritten; anything else is someone else's file, not to be
 * overwritten. */
static int log_short_check(struct plog *l, size_t size, char *err, size_t errlen)
{
	uint8_t hdr[PLOG_HEADER_SIZE], got[PLOG_HEADER_SIZE];
	ssize_t n = read_full(l->f.fd, got, size, 0);

	if (n < 0)
		return file_fail(err, errlen, (int)n, l->f.path, "cannot read");
	header_encode(hdr);
	for (ssize_t i = 0; i < n; i++)
		if (got[i] != hdr[i] && got[i] != 0)
			return fail(err, errlen, -EPROTO,
				    "%s: not an Agora log (%zd bytes, not a log header)", l->f.path,
				    n);
	return 0;
}

/* The header of a file at least that long: the magic and our version. */
static int log_header_check(struct plog *l, char *err, size_t errlen)
{
	uint8_t hdr[PLOG_HEADER_SIZE];
	ssize_t n = read_full(l->f.fd, hdr, sizeof(hdr), 0);
	uint32_t version;

	if (n < 0)
		return file_fail(err, errlen, (int)n, l->f.path, "cannot read");
	if (n < PLOG_HEADER_SIZE || memcmp(hdr, PLOG_MAGIC, PLOG_MAGIC_LEN))
		return fail(err, errlen, -EPROTO, "%s: not an Agora log (no %s header)", l->f.path,
			    PLOG_MAGIC);
	version = le32(hdr + 8);
	if (version != PLOG_VERSION)
		return fail(err, errlen, -EPROTO,
			    "%s: log version %u, this program reads version %d", l->f.path,
			    version, PLOG_VERSION);
	return 0;
}

/* Opens l's file, creating it if missing or rewriting a short one; on
 * success its header is good and l->f.size is the file's size. */
static int log_attach(struct plog *l, char *err, size_t errlen)
{
	struct stat sb;
	int ret;

	l->f.fd = open(l->f.path, O_RDWR | O_CLOEXEC);
	if (l->f.fd < 0 && errno == ENOENT)
		return log_create(l, err, errlen);
	if (l->f.fd < 0)
		return file_fail(err, errlen, -errno, l->f.path, "cannot open");
	if (fstat(l->f.fd, &sb))
		return file_fail(err, errlen, -errno, l->f.path, "cannot stat");
	if (!S_ISREG(sb.st_mode))
		return fail(err, errlen, -EINVAL, "%s: not a regular file", l->f.path);
	if (sb.st_size < PLOG_HEADER_SIZE) {
		ret = log_short_check(l, (size_t)sb.st_size, err, errlen);
		return ret ? ret : log_create(l, err, errlen);
	}
	l->f.size = (uint64_t)sb.st_size;
	return log_header_check(l, err, errlen);
}

/* Removes a "<path>.new" left by a rewrite that a crash interrupted. */
static int log_remove_stale(struct plog *l, char *err, size_t errlen)
{
	char *path = path_with(l->f.path, ".new");
	int ret = (unlink(path) && errno != ENOENT) ? -errno : 0;

	if (ret)
		file_fail(err, errlen, ret, path, "cannot remove a stale snapshot");
	free(path);
	return ret;
}

/* ---- replay ---- */

/* Makes the next n bytes of the file (or as many as it still holds)
 * available at r->buf + r->start, reading as much as fits: how many are
 * (at most n), or -errno. */
static ssize_t replay_fill(struct replay *r, size_t n)
{
	size_t have = r->end - r->start;
	uint64_t want;
	ssize_t got;

	if (n > r->file_size - r->off)
		n = (size_t)(r->file_size - r->off);
	if (have >= n)
		return (ssize_t)n;
	if (have)
		memmove(r->buf, r->buf + r->start, have);
	r->start = 0;
	r->end = have;
	ARRAY_GROW(r->buf, r->cap, n > PLOG_CHUNK ? n : PLOG_CHUNK, PLOG_CHUNK,
		   PLOG_BATCH_HEADER + PLOG_MAX_BATCH);
	want = r->file_size - r->off - have;
	if (want > r->cap - have)
		want = r->cap - have;
	got = read_full(r->fd, r->buf + have, (size_t)want, r->off + have);
	if (got < 0)
		return got;
	r->end += (size_t)got;
	return (ssize_t)(r->end < n ? r->end : n);
}

/* Stops the replay at r->off for why; 0. */
static int replay_halt(struct replay *r, enum replay_stop why)
{
	r->stop = why;
	return 0;
}

/* Checks the batch at r->off and gives it to fn: 1 when it was good (r
 * moves past it), 0 when the replay stops there (r->stop says why), or
 * -errno. */
static int replay_step(struct replay *r, plog_replay_fn fn, void *ctx)
{
	ssize_t n = replay_fill(r, PLOG_BATCH_HEADER);
	const uint8_t *p;
	uint32_t len;

	if (n < 0)
		return (int)n;
	if (n < PLOG_BATCH_HEADER)
		return replay_halt(r, REPLAY_END);
	len = le32(r->buf + r->start);
	if (len == 0 || len > PLOG_MAX_BATCH)
		return replay_halt(r, REPLAY_DAMAGED);
	n = replay_fill(r, PLOG_BATCH_HEADER + (size_t)len);
	if (n < 0)
		return (int)n;
	if ((size_t)n < PLOG_BATCH_HEADER + (size_t)len)
		return replay_halt(r, REPLAY_END);
	p = r->buf + r->start;
	if (le32(p + 4) != crc32c(0, p + PLOG_BATCH_HEADER, len) ||
	    fn(ctx, p + PLOG_BATCH_HEADER, len))
		return replay_halt(r, REPLAY_DAMAGED);
	r->start += PLOG_BATCH_HEADER + len;
	r->off += PLOG_BATCH_HEADER + len;
	return 1;
}

/* Copies bytes [from, to) of f into the open file fd. Reads with pread
 * only (f's offset, where appends go, is not moved), so it may run beside
 * appends past to. 0 or -errno. */
static int copy_range(const struct plog_file *f, uint64_t from, uint64_t to, int fd)
{
	uint8_t *buf = xmalloc(PLOG_CHUNK);
	int ret = 0;

	for (uint64_t off = from; off < to;) {
		uint64_t left = to - off;
		ssize_t n = read_full(f->fd, buf, left < PLOG_CHUNK ? left : PLOG_CHUNK, off);
		struct iovec iov;

		if (n <= 0) {
			ret = n < 0 ? (int)n : -EIO; /* 0: the file shrank under us */
			break;
		}
		iov.iov_base = buf;
		iov.iov_len = (size_t)n;
		ret = write_all(fd, &iov, 1);
		if (ret)
			break;
		off += (uint64_t)n;
	}
	free(buf);
	return ret;
}

/* Saves f's bytes from `from` on into "<path>.damaged" (replacing an older
 * one), durably, before they are cut. */
static int damaged_save(const struct plog_file *f, uint64_t from, char *err, size_t errlen)
{
	char *path = path_with(f->path, ".damaged");
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, PLOG_MODE);
	int ret = fd < 0 ? -errno : 0;

	if (!ret)
		ret = copy_range(f, from, f->size, fd);
	if (!ret && fsync(fd))
		ret = -errno;
	if (!ret)
		ret = dir_sync(path);
	if (fd >= 0)
		close(fd);
	if (ret)
		file_fail(err, errlen, ret, path, "cannot save the damaged end of the log");
	free(path);
	return ret;
}

/* Replays l's batches into fn, then cuts the file after the last good one
 * (saving the cut bytes first if damaged) and moves the offset to its end. */
static int log_replay(struct plog *l, plog_replay_fn fn, void *ctx, struct plog_replay_stats *st,
		      char *err, size_t errlen)
{
	struct replay r = { .fd = l->f.fd, .off = PLOG_HEADER_SIZE, .file_size = l->f.size };
	int ret;

	while ((ret = replay_step(&r, fn, ctx)) > 0)
		st->batches++;
	free(r.buf);
	if (ret < 0)
		return file_fail(err, errlen, ret, l->f.path, "cannot read");
	st->damaged = r.stop == REPLAY_DAMAGED;
	st->dropped = l->f.size - r.off;
	if (st->damaged && (ret = damaged_save(&l->f, r.off, err, errlen)))
		return ret;
	l->f.size = r.off;
	if (st->dropped)
		ret = ftruncate(l->f.fd, (off_t)l->f.size) ? -errno : 0;
	if (!ret && lseek(l->f.fd, (off_t)l->f.size, SEEK_SET) < 0)
		ret = -errno;
	st->bytes = l->f.size;
	return ret ? file_fail(err, errlen, ret, l->f.path, "cannot cut the end of the log") : 0;
}

int plog_open(const char *path, enum plog_sync sync, plog_replay_fn fn, void *ctx,
	      struct plog **out, struct plog_replay_stats *stats, char *err, size_t errlen)
{
	struct plog *l = xcalloc(1, sizeof(*l));
	struct plog_replay_stats st = { 0 };
	int ret;

	l->f.fd = -1;
	l->f.path = xstrdup(path);
	l->sync = sync;
	ret = log_attach(l, err, errlen);
	if (ret)
		goto out_close;
	ret = log_remove_stale(l, err, errlen);
	if (ret)
		goto out_close;
	ret = log_replay(l, fn, ctx, &st, err, errlen);
	if (ret)
		goto out_close;
	if (stats)
		*stats = st;
	*out = l;
	return 0;
out_close:
	plog_close(l);
	return ret;
}

/* ---- appending, the rest ---- */

int plog_append(struct plog *l, const void *body, size_t len, char *err, size_t errlen)
{
	return file_append(&l->f, l->sync == PLOG_SYNC_DATA, body, len, err, errlen);
}

int plog_sync(const struct plog *l, char *err, size_t errlen)
{
	if (fdatasync(l->f.fd))
		return file_fail(err, errlen, -errno, l->f.path, "fdatasync");
	return 0;
}

uint64_t plog_size(const struct plog *l)
{
	return l->f.size;
}

const char *plog_path(const struct plog *l)
{
	return l->f.path;
}

int plog_rewrite_begin(struct plog *l, struct plog_rewrite **out, char *err, size_t errlen)
{
	struct plog_rewrite *w;
	int ret;

	if (l->rewrite)
		return fail(err, errlen, -EBUSY, "%s: a rewrite is already in progress",
			    l->f.path);
	w = xcalloc(1, sizeof(*w));
	w->l = l;
	w->f.path = path_with(l->f.path, ".new");
	ret = file_create(&w->f, err, errlen);
	if (ret)
		goto out_free;
	l->rewrite = w;
	*out = w;
	return 0;
out_free:
	free(w->f.path);
	free(w);
	return ret;
}

int plog_rewrite_add(struct plog_rewrite *w, const void *body, size_t len, char *err,
		     size_t errlen)
{
	/* No fdatasync per batch: commit fsyncs the whole file once. */
	return file_append(&w->f, false, body, len, err, errlen);
}

int plog_rewrite_sync(struct plog_rewrite *w, char *err, size_t errlen)
{
	if (fsync(w->f.fd))
		return file_fail(err, errlen, -errno, w->f.path, "cannot fsync");
	return 0;
}

int plog_rewrite_fd(const struct plog_rewrite *w)
{
	return w->f.fd;
}

int plog_rewrite_adopt(struct plog_rewrite *w, char *err, size_t errlen)
{
	off_t end = lseek(w->f.fd, 0, SEEK_END);

	if (end < 0)
		return file_fail(err, errlen, -errno, w->f.path, "cannot find the end");
	if ((uint64_t)end < PLOG_HEADER_SIZE)
		return fail(err, errlen, -EIO, "%s: shorter than its header", w->f.path);
	w->f.size = (uint64_t)end;
	w->f.dirty = false;
	return 0;
}

int plog_rewrite_copy(struct plog_rewrite *w, uint64_t from, uint64_t to, char *err,
		      size_t errlen)
{
	int ret;

	if (from < PLOG_HEADER_SIZE || from > to)
		return fail(err, errlen, -EINVAL, "%s: cannot copy bytes %llu to %llu",
			    w->l->f.path, (unsigned long long)from, (unsigned long long)to);
	if (w->f.dirty && (ret = file_cut(&w->f)))
		return file_fail(err, errlen, ret, w->f.path, "cannot cut a failed write");
	ret = copy_range(&w->l->f, from, to, w->f.fd);
	if (ret) {
		w->f.dirty = true;
		file_cut(&w->f);
		return file_fail(err, errlen, ret, w->f.path, "cannot copy the log's end");
	}
	w->f.size += to - from;
	return 0;
}

int plog_rewrite_commit(struct plog_rewrite *w, char *err, size_t errlen)
{
	int ret = log_replace(w->l, &w->f, err, errlen);

	plog_rewrite_abort(w); /* frees w; removes "<path>.new" if not renamed */
	return ret;
}

void plog_rewrite_abort(struct plog_rewrite *w)
{
	if (!w)
		return;
	file_discard(&w->f);
	w->l->rewrite = NULL;
	free(w->f.path);
	free(w);
}

void plog_close(struct plog *l)
{
	if (!l)
		return;
	plog_rewrite_abort(l->rewrite);
	if (l->f.fd >= 0)
		close(l->f.fd);
	free(l->f.path);
	free(l);
}
