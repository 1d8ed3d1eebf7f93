// Fuzz target: what idem reads from NATS headers and KV keys (framework/nats_client.h,
// framework/nats_layout.h): an error-stream entry, the deliver-at number, escaped header text and
// subscription keys. The input is fields separated by 0x00: reason, detail, attempts, failedAt,
// deliver-at, a subscription key (the rest is ignored). None of these may throw.
#include <string>
#include <vector>

#include "framework/nats_client.h"
#include "framework/nats_layout.h"
#include "fuzz/fuzz_support.h"

namespace nats = idem::detail::nats;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // nats.c destroys messages through its library state (natsMsg_Destroy uses its GC).
  static const bool opened = nats_Open(-1) == NATS_OK;
  if (!opened) idem::fuzz::finding("nats_Open failed", "");
  const std::string_view input = idem::fuzz::textOf(data, size);
  std::vector<std::string> fields;
  std::size_t at = 0;
  while (fields.size() < 6 && at <= input.size()) {
    const std::size_t end = std::min(input.find('\0', at), input.size());
    fields.emplace_back(input.substr(at, end - at));
    at = end + 1;
  }
  fields.resize(6);

  // One message for the whole process: nats.c frees destroyed messages on its GC thread, which
  // libFuzzer's leak check would take for a leak in every run (and scan for, at 400 runs/s). So
  // the body is fixed, and each run replaces the headers.
  static const std::string_view kBody = "envelope bytes";
  static natsMsg* raw = [] {
    natsMsg* m = nullptr;
    if (natsMsg_Create(&m, "idem.fuzz", nullptr, kBody.data(), static_cast<int>(kBody.size())) !=
        NATS_OK) {
      idem::fuzz::finding("natsMsg_Create failed", "");
    }
    return m;
  }();
  const char* names[] = {nats::kReasonHeader, nats::kDetailHeader, nats::kAttemptsHeader,
                         nats::kFailedAtHeader, nats::kDeliverAtHeader};
  for (std::size_t i = 0; i < 5; ++i) {
    (void)natsMsgHeader_Delete(raw, names[i]);
    // An empty field stands for an absent header; nats.c refuses some values, so skip those.
    if (!fields[i].empty()) (void)natsMsgHeader_Set(raw, names[i], fields[i].c_str());
  }
  idem::fuzz::expectNoThrow([&] {
    const idem::ErrorEntry entry = nats::errorEntryOf(raw, 7);
    if (entry.id != 7 || entry.envelope.size() != kBody.size()) {
      idem::fuzz::finding("errorEntryOf lost the id or the body", "");
    }
    (void)nats::headerNumber(raw, nats::kDeliverAtHeader);
    (void)nats::headerText(raw, nats::kMsgIdHeader);  // absent
    for (const std::string& field : fields) {
      if (nats::unescapeHeader(nats::escapeHeader(field)) != field) {
        idem::fuzz::finding("escaped header text does not unescape to itself", field.c_str());
      }
      (void)nats::unescapeHeader(field);
    }
    std::uint64_t type = 0;
    std::string endpoint;
    if (nats::parseSubscriptionKey(fields[5], type, endpoint) &&
        nats::subscriptionKey(type, endpoint) != fields[5]) {
      idem::fuzz::finding("a parsed subscription key does not rebuild", fields[5].c_str());
    }
  });
  return 0;
}
