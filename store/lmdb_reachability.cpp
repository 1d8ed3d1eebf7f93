// pagesReachable: walks every page of an LMDB file under a SIGBUS guard.
#include "store/lmdb_reachability.h"

#include <setjmp.h>
#include <signal.h>

#include <cstddef>
#include <cstring>

namespace idem::store {

namespace {

// The SIGBUS guard of pagesReachable(): set only on the thread walking, for the walk's duration.
thread_local sigjmp_buf* tWalkGuard = nullptr;

void onWalkSigbus(int signal) {
  if (tWalkGuard != nullptr) siglongjmp(*tWalkGuard, 1);
  ::signal(signal, SIG_DFL);  // not ours: die of it as if no handler were installed
  ::raise(signal);
}

}  // namespace

bool pagesReachable(MDB_env* env) {
  struct sigaction guard {};
  struct sigaction previous {};
  guard.sa_handler = onWalkSigbus;
  sigemptyset(&guard.sa_mask);
  ::sigaction(SIGBUS, &guard, &previous);
  MDB_txn* txn = nullptr;
  MDB_cursor* cursor = nullptr;
  sigjmp_buf jump;
  volatile bool reachable = true;
  if (sigsetjmp(jump, 1) == 0) {
    tWalkGuard = &jump;
    auto walk = [&](MDB_dbi dbi, auto&& each) {
      if (mdb_cursor_open(txn, dbi, &cursor) != MDB_SUCCESS) return;
      MDB_val key{};
      MDB_val value{};
      for (int rc = mdb_cursor_get(cursor, &key, &value, MDB_FIRST); rc == MDB_SUCCESS;
           rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)) {
        if (value.mv_size > 0) {
          [[maybe_unused]] volatile char last =
              static_cast<const char*>(value.mv_data)[value.mv_size - 1];
        }
        each(key);
      }
      mdb_cursor_close(cursor);
      cursor = nullptr;
    };
    if (mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) == MDB_SUCCESS) {
      walk(0, [](const MDB_val&) {});  // 0: LMDB's free-page tree (as mdb_stat -f reads it)
      MDB_dbi mainDb = 0;
      if (mdb_dbi_open(txn, nullptr, 0, &mainDb) == MDB_SUCCESS) {
        // No heap here: a siglongjmp out of the walk must not leak.
        char names[32][128] = {};
        int count = 0;
        walk(mainDb, [&](const MDB_val& key) {
          if (count < 32 && key.mv_size < sizeof names[0]) {
            std::memcpy(names[count++], key.mv_data, key.mv_size);
          }
        });
        for (int i = 0; i < count; ++i) {
          MDB_dbi dbi = 0;
          if (mdb_dbi_open(txn, names[i], 0, &dbi) == MDB_SUCCESS) walk(dbi, [](auto&) {});
        }
      }
    }
  } else {
    reachable = false;
  }
  tWalkGuard = nullptr;
  if (cursor != nullptr) mdb_cursor_close(cursor);
  if (txn != nullptr) mdb_txn_abort(txn);
  ::sigaction(SIGBUS, &previous, nullptr);
  return reachable;
}

}  // namespace idem::store
