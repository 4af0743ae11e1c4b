#include "ipc/cluster.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool ipc_url_is_network(const char *url)
{
	return !(strncmp(url, "ipc://", 6) == 0 || strncmp(url, "inproc://", 9) == 0);
}

int ipc_cluster_token_load(const char *path, char *out, size_t outlen, char *err,
			   size_t errlen)
{
	char buf[512];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cluster token file %s: %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "cluster token file %s: not a regular file", path);
		close(fd);
		return -1;
	}
	if (st.st_mode & 077) {
		snprintf(err, errlen,
			 "cluster token file %s: mode %03o lets others read or change it; "
			 "chmod 600 it", path, (unsigned)(st.st_mode & 0777));
		close(fd);
		return -1;
	}
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "cluster token file %s: %s", path, strerror(errno));
		return -1;
	}
	buf[n] = '\0';
	char *s = buf;
	while (*s == ' ' || *s == '\t')
		s++;
	size_t len = strcspn(s, "\r\n");
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	for (size_t i = 0; i < len; i++) {
		if (s[i] <= ' ' || s[i] > '~') {
			snprintf(err, errlen,
				 "cluster token file %s: the token must be printable ASCII "
				 "without blanks", path);
			return -1;
		}
	}
	if (len < IPC_TOKEN_MIN || len > IPC_TOKEN_MAX || len >= outlen) {
		snprintf(err, errlen,
			 "cluster token file %s: the token must be %d to %d characters (it is %zu)",
			 path, IPC_TOKEN_MIN, IPC_TOKEN_MAX, len);
		return -1;
	}
	memcpy(out, s, len);
	out[len] = '\0';
	return 0;
}

bool ipc_token_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char diff = (unsigned char)(la != lb);
	/* compare over the longer length; the shorter reads its own NULs */
	size_t n = la > lb ? la : lb;
	for (size_t i = 0; i < n; i++) {
		unsigned char x = i < la ? (unsigned char)a[i] : 0;
		unsigned char y = i < lb ? (unsigned char)b[i] : 0;
		diff |= (unsigned char)(x ^ y);
	}
	return diff == 0;
}
