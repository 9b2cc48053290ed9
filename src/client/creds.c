/*
 * creds.c - the credentials file (creds.h): its shape checked on reading,
 * written whole through a temporary file so a crash never leaves half of
 * it, never readable by others.
 */
#include "creds.h"

#include "base/fdio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DIR_MODE 0700
#define FILE_MODE 0600

int creds_path(char *out, size_t outlen, char *err, size_t errlen)
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	size_t n;

	/* The XDG spec: a relative XDG_CONFIG_HOME is invalid and ignored. */
	if (xdg && xdg[0] == '/')
		n = (size_t)snprintf(out, outlen, "%s/agora/credentials", xdg);
	else {
		if (!home || home[0] != '/') {
			struct passwd *pw = getpwuid(getuid());

			home = pw ? pw->pw_dir : NULL;
		}
		if (!home || home[0] != '/') {
			snprintf(err, errlen, "no home directory: set HOME or XDG_CONFIG_HOME");
			return -1;
		}
		n = (size_t)snprintf(out, outlen, "%s/.config/agora/credentials", home);
	}
	if (n >= outlen) {
		snprintf(err, errlen, "the credentials file's path is too long");
		return -1;
	}
	return 0;
}

json_t *creds_empty(void)
{
	return json_pack("{s:[]}", "accounts");
}

/* A string member of 1 to CREDS_FIELD_MAX bytes. */
static bool field_ok(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_string(v) && json_string_length(v) > 0 &&
	       json_string_length(v) <= CREDS_FIELD_MAX;
}

static int check_shape(const json_t *root, char *err, size_t errlen)
{
	const json_t *list = json_object_get(root, "accounts"), *a;
	static const char *const fields[] = { "server", "name", "token" };
	size_t i;

	if (!json_is_object(root) || !json_is_array(list)) {
		snprintf(err, errlen, "not a credentials file (no \"accounts\" list)");
		return -1;
	}
	if (json_array_size(list) > CREDS_ACCOUNTS_MAX) {
		snprintf(err, errlen, "more than %d accounts", CREDS_ACCOUNTS_MAX);
		return -1;
	}
	json_array_foreach(list, i, a) {
		if (!json_is_object(a)) {
			snprintf(err, errlen, "account %zu is not an object", i + 1);
			return -1;
		}
		for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
			if (!field_ok(a, fields[f])) {
				snprintf(err, errlen,
					 "account %zu: \"%s\" must be a string of 1 to %d bytes",
					 i + 1, fields[f], CREDS_FIELD_MAX);
				return -1;
			}
		}
		if (!json_is_integer(json_object_get(a, "id"))) {
			snprintf(err, errlen, "account %zu: \"id\" must be an integer", i + 1);
			return -1;
		}
	}
	return 0;
}

int creds_parse(const char *text, size_t len, json_t **root, char *err, size_t errlen)
{
	json_error_t je;

	*root = NULL;
	if (len > CREDS_FILE_MAX) {
		snprintf(err, errlen, "over %zu bytes", CREDS_FILE_MAX);
		return -1;
	}
	/* Without JSON_ALLOW_NUL, a "\u0000" in a string is refused: every
	 * string is then a C string. */
	*root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!*root) {
		snprintf(err, errlen, "not JSON: %s (line %d)", je.text, je.line);
		return -1;
	}
	if (check_shape(*root, err, errlen)) {
		json_decref(*root);
		*root = NULL;
		return -1;
	}
	return 0;
}

char *creds_format(const json_t *root)
{
	char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	size_t n;
	char *out;

	if (!s)
		return NULL;
	n = strlen(s);
	out = realloc(s, n + 2);
	if (!out) {
		free(s);
		return NULL;
	}
	out[n] = '\n';
	out[n + 1] = '\0';
	return out;
}

/* The index of the server's account, or -1. */
static long find(const json_t *root, const char *server)
{
	const json_t *list = json_object_get(root, "accounts"), *a;
	size_t i;

	json_array_foreach(list, i, a) {
		const char *s = json_string_value(json_object_get(a, "server"));

		if (s && strcmp(s, server) == 0)
			return (long)i;
	}
	return -1;
}

bool creds_get(const json_t *root, const char *server, struct creds_account *out)
{
	long i = find(root, server);
	const json_t *a;

	if (i < 0)
		return false;
	a = json_array_get(json_object_get(root, "accounts"), (size_t)i);
	out->server = json_string_value(json_object_get(a, "server"));
	out->name = json_string_value(json_object_get(a, "name"));
	out->token = json_string_value(json_object_get(a, "token"));
	out->id = json_integer_value(json_object_get(a, "id"));
	return true;
}

int creds_put(json_t *root, const struct creds_account *a)
{
	json_t *list = json_object_get(root, "accounts");
	long i = find(root, a->server);
	json_t *o;

	if (i < 0 && json_array_size(list) >= CREDS_ACCOUNTS_MAX)
		return -1;
	o = i < 0 ? json_object() : json_array_get(list, (size_t)i);
	json_object_set_new(o, "server", json_string(a->server));
	json_object_set_new(o, "name", json_string(a->name));
	json_object_set_new(o, "id", json_integer(a->id));
	json_object_set_new(o, "token", json_string(a->token));
	if (i < 0)
		json_array_append_new(list, o);
	return 0;
}

bool creds_remove(json_t *root, const char *server)
{
	long i = find(root, server);

	if (i < 0)
		return false;
	json_array_remove(json_object_get(root, "accounts"), (size_t)i);
	return true;
}

/* Reads at most CREDS_FILE_MAX + 1 bytes of fd into a malloc'd buffer. */
static char *read_all(int fd, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap), *grown;
	ssize_t r;

	while (buf) {
		if (n == cap) {
			if (cap > CREDS_FILE_MAX)
				break; /* over the limit: the parser says so */
			grown = realloc(buf, cap * 2);
			if (!grown) {
				free(buf);
				return NULL;
			}
			buf = grown;
			cap *= 2;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(buf);
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*len = n;
	return buf;
}

int creds_load(const char *path, json_t **root, char *err, size_t errlen)
{
	char why[256];
	struct stat st;
	size_t len = 0;
	char *text;
	int fd, rc = -1;

	*root = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		*root = creds_empty();
		return 0;
	}
	if (fd < 0) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s is not a regular file", path);
		goto out_close;
	}
	if (st.st_mode & 077)
		fprintf(stderr, "agora: warning: %s may be read by other users; "
				"run: chmod 600 %s\n",
			path, path);
	if (!(text = read_all(fd, &len))) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno ? errno : ENOMEM));
		goto out_close;
	}
	if (creds_parse(text, len, root, why, sizeof(why)) == 0)
		rc = 0;
	else
		snprintf(err, errlen, "%s: %s (fix or delete it, then log in again)", path, why);
	free(text);
out_close:
	close(fd);
	return rc;
}

/* mkdir -p of path's directory, new directories with DIR_MODE. */
static int make_dirs(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	size_t n = (size_t)snprintf(dir, sizeof(dir), "%s", path);
	char *slash, keep;

	if (n >= sizeof(dir) || !(slash = strrchr(dir, '/')) || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		keep = *p;
		*p = '\0';
		if (mkdir(dir, DIR_MODE) != 0 && errno != EEXIST) {
			snprintf(err, errlen, "cannot create the directory %s: %s", dir,
				 strerror(errno));
			return -1;
		}
		*p = keep;
		if (keep == '\0')
			return 0;
	}
}

int creds_save(const char *path, const json_t *root, char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	char *text;
	int fd, rc = -1;

	if (make_dirs(path, err, errlen))
		return -1;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= sizeof(tmp)) {
		snprintf(err, errlen, "the credentials file's path is too long");
		return -1;
	}
	if (!(text = creds_format(root))) {
		snprintf(err, errlen, "cannot write %s: out of memory", path);
		return -1;
	}
	/* mkstemp creates the file 0600, O_EXCL: nobody else holds it open. */
	fd = mkstemp(tmp);
	if (fd < 0) {
		snprintf(err, errlen, "cannot write in the directory of %s: %s", path,
			 strerror(errno));
		goto out_text;
	}
	if (fchmod(fd, FILE_MODE) != 0 || fd_write_all(fd, text, strlen(text)) != 0 ||
	    fsync(fd) != 0) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		goto out_text;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
		goto out_text;
	}
	rc = 0;
out_text:
	/* The text holds tokens. */
	memset(text, 0, strlen(text));
	free(text);
	return rc;
}
