// Workspace: where one deployment on this machine keeps its files:
//   DIR/bus/                   the embedded transport's queues (shared by every process)
//   DIR/stores/<endpoint>/     each endpoint's version store
//   DIR/stats/<endpoint>.json  the last counters an endpoint process wrote
#pragma once

#include <filesystem>
#include <string_view>

namespace idem::tools {

struct Workspace {
  std::filesystem::path root;

  std::filesystem::path bus() const { return root / "bus"; }
  std::filesystem::path store(std::string_view endpoint) const {
    return root / "stores" / std::string(endpoint);
  }
  std::filesystem::path statsDirectory() const { return root / "stats"; }
};

}  // namespace idem::tools
