// The server side of TLS for HttpServer: an Asio SSL context made from PEM files, checked when
// it is made so that a wrong path or a key that does not belong to the certificate stops the
// process at start, named, instead of failing each handshake later.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <memory>

#include "http/http_server.h"

namespace idem::http {

// TLS 1.2 or later. With `files.clientCaFile`, a client must present a certificate that CA
// signed (the handshake fails otherwise). Throws idem::Error (permanent) naming the file and
// what is wrong with it.
std::unique_ptr<boost::asio::ssl::context> makeServerTlsContext(const TlsFiles& files);

}  // namespace idem::http
