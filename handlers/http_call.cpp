// idem::call(): an HttpCall output addressed to the calls endpoint, with the facts the framework
// owns (id, calling endpoint and entity) filled in from the context.
#include "idem/http_call.h"

#include <string>

namespace idem {

wire::HttpCall::Builder call(Context& ctx, std::string_view service, std::string_view path,
                             std::string_view tag) {
  const MessageId id = ctx.newId();
  auto request = ctx.send<wire::HttpCall>(kCallsEndpoint);
  request.setCallId(
      kj::arrayPtr(reinterpret_cast<const kj::byte*>(id.bytes.data()), id.bytes.size()));
  request.setReplyTo(std::string(ctx.endpointName()));
  request.setEntityKey(std::string(ctx.entityKey()));
  request.setTag(std::string(tag));
  request.setService(std::string(service));
  request.setPath(std::string(path));
  return request;
}

}  // namespace idem
