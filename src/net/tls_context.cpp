// Building and checking a generation's TLS contexts (see tls_context.hpp).
#include "net/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "net/tls_random.hpp"

namespace ringproxy {

namespace ssl = boost::asio::ssl;

namespace {

// Mozilla's "intermediate" TLS 1.2 list: forward secrecy and AEAD ciphers only.
constexpr const char* kDefaultCiphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
// TLS 1.3 suites, AES-128 first as the 1.2 list above, BoringSSL and Go have it: the key
// exchange (X25519, P-256) is at the 128-bit level, and SHA-256's key schedule is cheaper than
// SHA-384's (docs/tls.md). Not configurable (SPEC's `ciphers` is the TLS 1.2 list).
constexpr const char* kTls13Suites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
constexpr unsigned char kSessionContext[] = "ringproxy";

std::string quoted(std::string_view text) {
  return "\"" + std::string(text) + "\"";
}

// Empty when path can be opened for reading, else why not.
std::string unreadable(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return std::string("cannot read: ") + std::strerror(errno);
  std::fclose(f);
  return {};
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// The DNS names of a certificate's subjectAltName (lower-cased).
std::vector<std::string> san_names(X509* cert) {
  std::vector<std::string> out;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
    if (g->type != GEN_DNS) continue;
    const auto* data = ASN1_STRING_get0_data(g->d.dNSName);
    out.push_back(
        lower(std::string_view(reinterpret_cast<const char*>(data),
                               static_cast<std::size_t>(ASN1_STRING_length(g->d.dNSName)))));
  }
  GENERAL_NAMES_free(names);
  return out;
}

// ALPN: "h2" when the client offers it (RFC 9113 §3.2), else "http/1.1".
int select_protocol(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                    unsigned int inlen, void*) {
  static const unsigned char kOffer[] = "\x02h2\x08http/1.1";
  unsigned char* chosen = nullptr;
  if (SSL_select_next_proto(&chosen, outlen, kOffer, sizeof(kOffer) - 1, in, inlen) ==
      OPENSSL_NPN_NEGOTIATED) {
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_NOACK;  // no protocol in common: go on without ALPN
}

// Optional client certificates: the handshake goes on whatever the client sends; only a
// verified one is passed on (SSL_get_verify_result).
int accept_any_client(int, X509_STORE_CTX*) {
  return 1;
}

// Versions, ciphers, modes and options every server context shares.
void configure_server(SSL_CTX* ctx, const TlsConfig& cfg) {
  SSL_CTX_set_min_proto_version(
      ctx, cfg.min_version == TlsVersion::v1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_cipher_list(ctx, cfg.ciphers.empty() ? kDefaultCiphers : cfg.ciphers.c_str());
  SSL_CTX_set_ciphersuites(ctx, kTls13Suites);
  SSL_CTX_set_options(
      ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // One read takes what the socket holds (a record's header and body, or several records),
  // not a read per header and per body; SSL_has_pending() sees what it buffered.
  SSL_CTX_set_read_ahead(ctx, 1);
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof(kSessionContext) - 1);
  // Resumption is by tickets only: no server-side cache (and no lock around one).
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  if (cfg.session_tickets) {
    TlsTicketKeys::process().install(ctx);
    // TLS 1.3: one ticket per full handshake (OpenSSL sends two by default; Go and Caddy send
    // one). Each costs a session copy, its encoding and encryption and a record; a client
    // resumes with one, and a resumption renews it.
    SSL_CTX_set_num_tickets(ctx, 1);
  } else {
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(ctx, 0);
  }
  SSL_CTX_set_alpn_select_cb(ctx, select_protocol, nullptr);
  SSL_CTX_set_generate_session_id(ctx, &TlsRandom::generate_session_id);
}

// A certificate file without its chain: OpenSSL would build the chain from the context's
// store on every handshake (an X509_STORE_CTX and a verification, about 5,000 instructions);
// it is built once here the same way (the store is complete: client_auth's CAs are in).
// A file with a chain is sent as it is, as before.
void build_chain_once(SSL_CTX* ctx) {
  STACK_OF(X509)* chain = nullptr;
  SSL_CTX_get0_chain_certs(ctx, &chain);
  if (chain != nullptr && sk_X509_num(chain) > 0) return;
  if (SSL_CTX_build_cert_chain(ctx, SSL_BUILD_CHAIN_FLAG_IGNORE_ERROR) > 0) {
    SSL_CTX_set_mode(ctx, SSL_MODE_NO_AUTO_CHAIN);
  }
  ERR_clear_error();  // an incomplete chain is not an error, as on a handshake
}

bool configure_client_auth(SSL_CTX* ctx, const TlsClientAuthConfig& auth, const std::string& file,
                           std::vector<ConfigError>* errors) {
  const std::string label = "tls.client_auth.ca " + quoted(auth.ca) + ": ";
  if (std::string why = unreadable(auth.ca); !why.empty()) {
    errors->push_back({file, auth.ca_line, label + why});
    return false;
  }
  STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(auth.ca.c_str());
  if (names == nullptr || SSL_CTX_load_verify_locations(ctx, auth.ca.c_str(), nullptr) != 1) {
    if (names != nullptr) sk_X509_NAME_pop_free(names, X509_NAME_free);
    errors->push_back({file, auth.ca_line,
                       label + "not a PEM CA certificate file (" +
                           openssl_error_reason("no certificate in it") + ")"});
    return false;
  }
  SSL_CTX_set_client_CA_list(ctx, names);
  if (auth.required) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any_client);
  }
  return true;
}

// Loads cert's chain and key into ctx and checks that they belong together.
bool load_pair(SSL_CTX* ctx, const TlsCertificateConfig& cert, const std::string& file,
               std::vector<ConfigError>* errors) {
  const std::string cert_label = "tls.certificate: cert " + quoted(cert.cert) + ": ";
  const std::string key_label = "tls.certificate: key " + quoted(cert.key) + ": ";
  bool ok = true;
  if (std::string why = unreadable(cert.cert); !why.empty()) {
    errors->push_back({file, cert.cert_line, cert_label + why});
    ok = false;
  }
  if (std::string why = unreadable(cert.key); !why.empty()) {
    errors->push_back({file, cert.key_line, key_label + why});
    ok = false;
  }
  if (!ok) return false;
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.cert.c_str()) != 1) {
    errors->push_back({file, cert.cert_line,
                       cert_label + "not a PEM certificate chain (" +
                           openssl_error_reason("no certificate in it") + ")"});
    return false;
  }
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_file(cert.key.c_str(), "r"), BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr, EVP_PKEY_free);
  if (!key) {
    errors->push_back(
        {file, cert.key_line,
         key_label + "not a PEM private key (" + openssl_error_reason("no key in it") + ")"});
    return false;
  }
  if (X509_check_private_key(SSL_CTX_get0_certificate(ctx), key.get()) != 1) {
    ERR_clear_error();
    errors->push_back({file, cert.key_line,
                       key_label + "does not match the certificate in " + quoted(cert.cert)});
    return false;
  }
  if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1) {
    errors->push_back({file, cert.key_line,
                       key_label + "cannot be used (" + openssl_error_reason("unknown") + ")"});
    return false;
  }
  return true;
}

// The signature algorithms the server can sign with, for its certificates' key types, in
// OpenSSL's default order (SHA-1 ones left out: OpenSSL 3.0's security level 1 refuses them);
// "" when a key is of another type. OpenSSL matches its list against the client's on every
// handshake (about 16,000 instructions for its default list of 25): this one gives the same
// choice for these keys.
std::string server_sigalgs(const std::vector<std::unique_ptr<ssl::context>>& contexts) {
  bool ec = false, ed25519 = false, ed448 = false, pss = false, rsa = false;
  for (const auto& context : contexts) {
    EVP_PKEY* key = SSL_CTX_get0_privatekey(context->native_handle());
    switch (key != nullptr ? EVP_PKEY_get_base_id(key) : EVP_PKEY_NONE) {
      case EVP_PKEY_EC:
        ec = true;
        break;
      case EVP_PKEY_ED25519:
        ed25519 = true;
        break;
      case EVP_PKEY_ED448:
        ed448 = true;
        break;
      case EVP_PKEY_RSA_PSS:
        pss = true;
        break;
      case EVP_PKEY_RSA:
        rsa = true;
        break;
      default:
        return "";
    }
  }
  std::string list;
  const auto add = [&list](bool on, const char* algs) {
    if (on) list += (list.empty() ? "" : ":") + std::string(algs);
  };
  add(ec, "ECDSA+SHA256:ECDSA+SHA384:ECDSA+SHA512");
  add(ed25519, "ed25519");
  add(ed448, "ed448");
  add(pss, "rsa_pss_pss_sha256:rsa_pss_pss_sha384:rsa_pss_pss_sha512");
  add(rsa, "rsa_pss_rsae_sha256:rsa_pss_rsae_sha384:rsa_pss_rsae_sha512");
  add(rsa, "RSA+SHA256:RSA+SHA384:RSA+SHA512");
  add(ec, "ECDSA+SHA224");
  add(rsa, "RSA+SHA224");
  return list;
}

}  // namespace

std::string openssl_error_reason(std::string_view fallback) {
  const unsigned long first = ERR_get_error();
  ERR_clear_error();
  const char* reason = first != 0 ? ERR_reason_error_string(first) : nullptr;
  return reason != nullptr ? std::string(reason) : std::string(fallback);
}

bool TlsServerContexts::add_certificate(const TlsConfig& cfg, const TlsCertificateConfig& cert,
                                        const std::string& file, std::vector<ConfigError>* errors) {
  auto context = std::make_unique<ssl::context>(ssl::context::tls_server);
  SSL_CTX* ctx = context->native_handle();
  if (!load_pair(ctx, cert, file, errors)) return false;
  configure_server(ctx, cfg);
  if (cfg.client_auth && !configure_client_auth(ctx, *cfg.client_auth, file, errors)) {
    return false;
  }
  build_chain_once(ctx);
  SSL_CTX_set_tlsext_servername_callback(ctx, &TlsServerContexts::servername_callback);
  SSL_CTX_set_tlsext_servername_arg(ctx, this);
  std::vector<std::string> names = cert.server_names;
  if (names.empty()) names = san_names(SSL_CTX_get0_certificate(ctx));
  for (const std::string& name : names) {
    if (name.starts_with("*.")) {
      wildcards_.emplace_back(name.substr(1), ctx);
    } else {
      exact_.emplace(name, ctx);  // the first certificate naming it keeps it
    }
  }
  contexts_.push_back(std::move(context));
  return true;
}

std::shared_ptr<const TlsServerContexts> TlsServerContexts::build(
    const TlsConfig& cfg, const std::string& file, std::vector<ConfigError>* errors) {
  const std::size_t before = errors->size();
  if (!cfg.ciphers.empty()) {
    ssl::context probe(ssl::context::tls_server);
    if (SSL_CTX_set_cipher_list(probe.native_handle(), cfg.ciphers.c_str()) != 1) {
      ERR_clear_error();
      errors->push_back({file, cfg.ciphers_line,
                         "tls.ciphers: " + quoted(cfg.ciphers) + " selects no TLS 1.2 cipher"});
      return nullptr;
    }
  }
  auto out = std::make_shared<TlsServerContexts>();
  out->handshake_timeout_ = cfg.handshake_timeout;
  for (const TlsCertificateConfig& cert : cfg.certificates) {
    out->add_certificate(cfg, cert, file, errors);
  }
  if (errors->size() != before || out->contexts_.empty()) return nullptr;
  // Without client_auth the list only chooses the server's signature (with it, it is also
  // what a client certificate may use: OpenSSL's default list stays).
  if (const std::string sigalgs = server_sigalgs(out->contexts_);
      !cfg.client_auth && !sigalgs.empty()) {
    for (const auto& context : out->contexts_) {
      if (SSL_CTX_set1_sigalgs_list(context->native_handle(), sigalgs.c_str()) != 1) {
        ERR_clear_error();  // OpenSSL's default list stays
      }
    }
  }
  // Longest suffix first: the most specific wildcard wins.
  std::stable_sort(out->wildcards_.begin(), out->wildcards_.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  return out;
}

SSL_CTX* TlsServerContexts::context_for(std::string_view name) const {
  if (name.empty() || name.size() > 255) return default_context();
  const std::string key = lower(name);
  if (auto it = exact_.find(key); it != exact_.end()) return it->second;
  // "*.example.com" serves one label under example.com (RFC 6125 §6.4.3).
  const std::size_t dot = key.find('.');
  if (dot != std::string::npos && dot > 0) {
    const std::string_view parent = std::string_view(key).substr(dot);
    for (const auto& [suffix, ctx] : wildcards_) {
      if (parent == suffix) return ctx;
    }
  }
  return default_context();
}

int TlsServerContexts::servername_callback(SSL* ssl, int*, void* arg) {
  const auto* self = static_cast<const TlsServerContexts*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr) return SSL_TLSEXT_ERR_OK;
  SSL_CTX* chosen = self->context_for(name);
  if (chosen != SSL_get_SSL_CTX(ssl)) SSL_set_SSL_CTX(ssl, chosen);
  return SSL_TLSEXT_ERR_OK;
}

namespace {

bool build_upstream(const UpstreamConfig& up, const std::string& file, UpstreamTlsContext& out,
                    std::vector<ConfigError>* errors) {
  const UpstreamTlsConfig& cfg = *up.tls;
  std::string error;
  out.context = make_upstream_tls_context(cfg, &error);
  out.server_name = cfg.server_name;
  out.verify = cfg.verify;
  if (!out.context) {
    errors->push_back({file, cfg.ca_line, "upstream " + quoted(up.name) + ": " + error});
    return false;
  }
  return true;
}

}  // namespace

std::unique_ptr<ssl::context> make_upstream_tls_context(const UpstreamTlsConfig& cfg,
                                                        std::string* error) {
  auto context = std::make_unique<ssl::context>(ssl::context::tls_client);
  SSL_CTX* ctx = context->native_handle();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_read_ahead(ctx, 1);
  const std::string label = "tls.ca " + quoted(cfg.ca) + ": ";
  if (!cfg.ca.empty()) {
    if (std::string why = unreadable(cfg.ca); !why.empty()) {
      *error = label + why;
      return nullptr;
    }
    if (SSL_CTX_load_verify_locations(ctx, cfg.ca.c_str(), nullptr) != 1) {
      *error = label + "not a PEM CA certificate file (" +
               openssl_error_reason("no certificate in it") + ")";
      return nullptr;
    }
  } else {
    SSL_CTX_set_default_verify_paths(ctx);
  }
  SSL_CTX_set_verify(ctx, cfg.verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
  return context;
}

std::shared_ptr<const TlsContexts> build_tls_contexts(const Config& config,
                                                      std::vector<ConfigError>* errors) {
  auto out = std::make_shared<TlsContexts>();
  const std::size_t before = errors->size();
  if (config.tls) out->server = TlsServerContexts::build(*config.tls, config.path, errors);
  for (const UpstreamConfig& up : config.upstreams) {
    if (!up.tls) continue;
    UpstreamTlsContext built;
    if (build_upstream(up, config.path, built, errors)) {
      out->upstreams.emplace(up.name, std::move(built));
    }
  }
  if (errors->size() != before) return nullptr;
  return out;
}

}  // namespace ringproxy
