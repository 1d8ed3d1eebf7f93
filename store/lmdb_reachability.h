// pagesReachable: the check LmdbEnv runs on a data file shorter than its meta page says.
#pragma once

#include <lmdb.h>

namespace idem::store {

// Reads every page LMDB can reach: the free-page tree, the main tree, every named database and
// every value's last byte (overflow pages). Returns false when a page lies past the end of the
// file (touching it raises SIGBUS, caught here). Only called when the file is shorter than the
// last page the newest meta page names, which LMDB can leave legitimately when the pages at the
// end were freed in the transaction that allocated them (never written, but counted).
// `env` must be open; the walk runs in a read transaction of its own. Installs a SIGBUS handler
// for the walk's duration (restoring the previous one after); not async-signal-safe.
bool pagesReachable(MDB_env* env);

}  // namespace idem::store
