/* ipc/cluster: the cluster token file and its comparison. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipc/cluster.h"

static char dir[] = "/tmp/strata-tok-XXXXXX";

static void setup(void)
{
	cr_assert_not_null(mkdtemp(dir));
}

static const char *write_file(const char *name, const char *text, mode_t mode)
{
	static char path[256];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	cr_assert_eq(chmod(path, mode), 0);
	return path;
}

static void teardown(void)
{
	char cmd[64];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(cluster, .init = setup, .fini = teardown);

Test(cluster, loads_the_first_line_trimmed)
{
	char tok[128], err[256];
	const char *p = write_file("a", "  abcdefghijklmnop-123 \t\nsecond line\n", 0600);
	cr_assert_eq(ipc_cluster_token_load(p, tok, sizeof tok, err, sizeof err), 0, "%s", err);
	cr_assert_str_eq(tok, "abcdefghijklmnop-123");
	p = write_file("b", "abcdefghijklmnopqrstu", 0400); /* no newline, read-only */
	cr_assert_eq(ipc_cluster_token_load(p, tok, sizeof tok, err, sizeof err), 0, "%s", err);
	cr_assert_str_eq(tok, "abcdefghijklmnopqrstu");
}

Test(cluster, refuses_bad_files)
{
	char tok[128], err[256];
	const char *p = write_file("open", "abcdefghijklmnop-123\n", 0640);
	cr_assert_eq(ipc_cluster_token_load(p, tok, sizeof tok, err, sizeof err), -1);
	cr_assert(strstr(err, "chmod 600"), "%s", err);
	p = write_file("short", "abc\n", 0600);
	cr_assert_eq(ipc_cluster_token_load(p, tok, sizeof tok, err, sizeof err), -1);
	cr_assert(strstr(err, "16 to 127"), "%s", err);
	p = write_file("blank", "abcdefgh ijklmnopqrst\n", 0600);
	cr_assert_eq(ipc_cluster_token_load(p, tok, sizeof tok, err, sizeof err), -1);
	cr_assert(strstr(err, "printable"), "%s", err);
	p = write_file("empty", "", 0600);
	cr_assert_eq(ipc_cluster_token_load(p, tok, sizeof tok, err, sizeof err), -1);
	char big[200];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	p = write_file("long", big, 0600);
	cr_assert_eq(ipc_cluster_token_load(p, tok, sizeof tok, err, sizeof err), -1);
	cr_assert_eq(ipc_cluster_token_load("/nonexistent/tok", tok, sizeof tok, err, sizeof err), -1);
	cr_assert(strstr(err, "No such file"), "%s", err);
	cr_assert_eq(ipc_cluster_token_load(dir, tok, sizeof tok, err, sizeof err), -1);
}

Test(cluster, compares_whole_tokens)
{
	cr_assert(ipc_token_equal("abcdefghijklmnop", "abcdefghijklmnop"));
	cr_assert_not(ipc_token_equal("abcdefghijklmnop", "abcdefghijklmnoq"));
	cr_assert_not(ipc_token_equal("abcdefghijklmnop", "abcdefghijklmno"));
	cr_assert_not(ipc_token_equal("", "abcdefghijklmnop"));
	cr_assert(ipc_token_equal("", ""));
}

Test(cluster, network_urls)
{
	cr_assert(ipc_url_is_network("tcp://127.0.0.1:1"));
	cr_assert(ipc_url_is_network("tls+tcp://h:1"));
	cr_assert_not(ipc_url_is_network("ipc:///tmp/x.sock"));
	cr_assert_not(ipc_url_is_network("inproc://x"));
}
