/*
 * daemon/stratad.h — the state stratad's parts share.
 *
 * One struct stratad per process, built by main() before any thread starts
 * and torn down after they have all stopped. Fields below "immutable" never
 * change while threads run; the rest say what guards them.
 */
#ifndef STRATA_DAEMON_STRATAD_H
#define STRATA_DAEMON_STRATAD_H

#include <stdatomic.h>
#include <stdint.h>

#include "daemon/options.h"
#include "shm/segment.h"

struct replay;
struct dedup;
struct ipc_pub;
struct storage;
struct trees;
struct tablespaces;
struct tiered;
struct columnar_db;
struct json_store;
struct partitions;

struct stratad {
	/* immutable after start */
	struct stratad_options opt;
	char data_dir[4096];       /* real path */
	uint64_t epoch;
	int64_t start_us;
	char cluster_tok[128];     /* "" = requests need no token */
	struct shm_segments shm;
	struct replay *replay;
	struct dedup *dedup;
	struct ipc_pub *pub;
	struct storage *storage;   /* core objects (disk, buffer pool, ...) */
	struct trees *trees;       /* named LSM trees */
	/* areas of daemon/modules.h: each set by its module's open */
	struct tablespaces *tablespaces;
	struct tiered *tiered;
	struct columnar_db *columnar;
	struct json_store *json;
	struct partitions *partitions;
	size_t max_msg;            /* NNG_OPT_RECVMAXSZ and the reply limit */

	_Atomic bool stopping;
};

#endif
