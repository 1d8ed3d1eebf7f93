// Workspace: where one deployment on this machine keeps its files:
//   DIR/bus/                   the embedded transport's queues (shared by every process)
//   DIR/stores/<endpoint>/     each endpoint's version store
//   DIR/stores/<endpoint>.p<N>/  partition N's store, for an endpoint with several (NATS)
//   DIR/stats/<endpoint>.json  the last counters an endpoint process wrote
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "idem/error.h"

namespace idem::tools {

struct Workspace {
  std::filesystem::path root;

  std::filesystem::path bus() const { return root / "bus"; }
  std::filesystem::path store(std::string_view endpoint) const {
    return root / "stores" / std::string(endpoint);
  }
  // The store of partition `partition` of `count`: store(endpoint) when count is 1.
  std::filesystem::path store(std::string_view endpoint, std::uint32_t partition,
                              std::uint32_t count) const {
    if (count <= 1) return store(endpoint);
    return root / "stores" / (std::string(endpoint) + ".p" + std::to_string(partition));
  }
  std::filesystem::path statsDirectory() const { return root / "stats"; }

  // Whether the workspace's bus exists (`idem run` creates it, as does `idem send --create`).
  bool exists() const { return std::filesystem::exists(bus() / "data.mdb"); }
  // Throws idem::Error (permanent) saying that `root` is not a workspace, when it is not: the
  // commands that only read or add to one never create it by accident (a typo in --dir).
  void requireExisting() const {
    if (exists()) return;
    fail(ErrorKind::kPermanent, root.string() + " is not an idem workspace (there is no " +
                                    (bus() / "data.mdb").string() + "): `idem run --dir " +
                                    root.string() + "` creates one, as does `idem send --create`");
  }
};

}  // namespace idem::tools
