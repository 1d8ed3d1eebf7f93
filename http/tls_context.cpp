// makeServerTlsContext(): each file checked in turn, with OpenSSL's reason in the error.
#include "http/tls_context.h"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <filesystem>
#include <fstream>

#include "idem/error.h"

namespace idem::http {

namespace ssl = boost::asio::ssl;

namespace {

void readable(const std::string& what, const std::string& path) {
  if (path.empty()) fail(ErrorKind::kPermanent, "TLS needs a " + what + " file");
  std::ifstream file(path);
  if (!file) {
    fail(ErrorKind::kPermanent,
         "cannot read the TLS " + what + " " + path + ": " +
             (std::filesystem::exists(path) ? "not readable" : "no such file"));
  }
}

bool isPemPrivateKey(const std::string& path) {
  BIO* file = BIO_new_file(path.c_str(), "r");
  if (file == nullptr) return false;
  EVP_PKEY* key = PEM_read_bio_PrivateKey(file, nullptr, nullptr, nullptr);
  BIO_free(file);
  const bool read = key != nullptr;
  EVP_PKEY_free(key);
  return read;
}

void check(const boost::system::error_code& ec, const std::string& what) {
  if (ec) fail(ErrorKind::kPermanent, what + ": " + ec.message());
}

}  // namespace

std::unique_ptr<ssl::context> makeServerTlsContext(const TlsFiles& files) {
  auto context = std::make_unique<ssl::context>(ssl::context::tls_server);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                       ssl::context::single_dh_use);
  boost::system::error_code ec;
  readable("certificate", files.certificateFile);
  context->use_certificate_chain_file(files.certificateFile, ec);
  check(ec, "the TLS certificate " + files.certificateFile + " is not a PEM certificate chain");
  readable("key", files.keyFile);
  if (!isPemPrivateKey(files.keyFile)) {
    fail(ErrorKind::kPermanent, "the TLS key " + files.keyFile + " is not a PEM private key");
  }
  context->use_private_key_file(files.keyFile, ssl::context::pem, ec);
  if (ec || SSL_CTX_check_private_key(context->native_handle()) != 1) {
    fail(ErrorKind::kPermanent, "the TLS key " + files.keyFile +
                                    " does not belong to the certificate " + files.certificateFile);
  }
  if (!files.clientCaFile.empty()) {
    readable("client CA", files.clientCaFile);
    context->load_verify_file(files.clientCaFile, ec);
    check(ec, "the TLS client CA " + files.clientCaFile + " is not a PEM certificate file");
    context->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  }
  return context;
}

}  // namespace idem::http
