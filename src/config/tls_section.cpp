// [tls], [[tls.certificate]] and [tls.client_auth]: the TLS listeners and what they serve.
// The files they name are read and checked later, where certificates are built (net/).
#include <algorithm>
#include <cctype>

#include "config/sections.hpp"

namespace ringproxy::config_detail {

namespace {

// A non-empty path string; its line goes to *line.
bool read_path(TableReader& r, std::string_view key, std::string& out, int* line) {
  const TomlValue* v = r.find(key);
  if (!v) return false;
  *line = line_of(*v);
  if (!r.read_string(key, out)) return false;
  if (out.empty()) {
    r.key_error(*v, key, "must not be empty");
    return false;
  }
  return true;
}

// An SNI name: letters, digits, '-' and '.', optionally "*." first; the problem, or empty.
std::string check_server_name(std::string& name) {
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string_view rest = name;
  if (rest.starts_with("*.")) rest.remove_prefix(2);
  if (rest.empty() || rest.size() > 253) return "is not a host name";
  for (char c : rest) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') {
      return "is not a host name (\"*.example.com\" or \"www.example.com\")";
    }
  }
  if (rest.front() == '.' || rest.back() == '.' || rest.find("..") != std::string_view::npos) {
    return "is not a host name";
  }
  return {};
}

void read_server_names(TableReader& r, std::vector<std::string>& out) {
  const TomlValue* v = r.find("server_names");
  if (!v) return;
  if (!v->is_array()) {
    r.type_error(*v, "server_names", "an array of host names");
    return;
  }
  for (const TomlValue& item : v->as_array()) {
    if (!item.is_string()) {
      r.type_error(item, "server_names", "host name strings");
      continue;
    }
    std::string name = item.as_string().str;
    if (const std::string problem = check_server_name(name); !problem.empty()) {
      r.key_error(item, "server_names", quote(item.as_string().str) + " " + problem);
      continue;
    }
    out.push_back(std::move(name));
  }
}

void read_certificate(const TomlValue& table, std::size_t number, Diagnostics& diag,
                      TlsCertificateConfig& out) {
  TableReader r(table, "tls.certificate #" + std::to_string(number), false, diag);
  out.line = r.line();
  if (!read_path(r, "cert", out.cert, &out.cert_line) && !r.find("cert")) {
    r.error(r.line(), "missing required key \"cert\"");
  }
  if (!read_path(r, "key", out.key, &out.key_line) && !r.find("key")) {
    r.error(r.line(), "missing required key \"key\"");
  }
  read_server_names(r, out.server_names);
  r.finish();
}

void read_certificates(TableReader& r, Diagnostics& diag, TlsConfig& out) {
  const TomlValue* v = r.find("certificate");
  if (!v) {
    r.error(r.line(), "no certificates; add at least one [[tls.certificate]]");
    return;
  }
  if (!v->is_array() || v->as_array().empty()) {
    r.type_error(*v, "certificate", "one or more [[tls.certificate]] tables");
    return;
  }
  std::size_t number = 0;
  for (const TomlValue& item : v->as_array()) {
    ++number;
    if (!item.is_table()) {
      r.error(line_of(item), "certificate #" + std::to_string(number) + ": expected a table, got " +
                                 describe_type(item));
      continue;
    }
    TlsCertificateConfig cert;
    read_certificate(item, number, diag, cert);
    out.certificates.push_back(std::move(cert));
  }
}

void read_client_auth(TableReader& tls, Diagnostics& diag, TlsConfig& out) {
  const TomlValue* v = tls.find("client_auth");
  if (!v) return;
  if (!v->is_table()) {
    tls.type_error(*v, "client_auth", "a table ([tls.client_auth])");
    return;
  }
  TableReader r(*v, "tls.client_auth", true, diag);
  TlsClientAuthConfig auth;
  auth.line = r.line();
  if (!read_path(r, "ca", auth.ca, &auth.ca_line) && !r.find("ca")) {
    r.error(r.line(), "missing required key \"ca\"");
  }
  r.read_bool("required", auth.required);
  r.finish();
  out.client_auth = std::move(auth);
}

}  // namespace

void read_tls(const TomlValue& table, const std::vector<HostPort>& server_listen, Diagnostics& diag,
              TlsConfig& out) {
  TableReader r(table, "tls", true, diag);
  out.line = r.line();
  if (r.find("listen")) {
    read_listen(r, out.listen);
    for (const HostPort& a : out.listen) {
      // Port 0 (tests) picks a free port for each: no clash.
      if (a.port != 0 &&
          std::find(server_listen.begin(), server_listen.end(), a) != server_listen.end()) {
        r.key_error(*r.find("listen"), "listen",
                    "address " + quote(a.to_string()) + " is also in server.listen");
      }
    }
  } else {
    r.error(r.line(), "missing required key \"listen\"");
  }
  std::string text;
  if (r.read_string("min_version", text)) {
    if (text == "1.2") {
      out.min_version = TlsVersion::v1_2;
    } else if (text == "1.3") {
      out.min_version = TlsVersion::v1_3;
    } else {
      r.key_error(
          *r.find("min_version"), "min_version",
          "must be \"1.2\" or \"1.3\" (older versions are always refused), got " + quote(text));
    }
  }
  if (const TomlValue* v = r.find("ciphers")) out.ciphers_line = line_of(*v);
  r.read_string("ciphers", out.ciphers);
  r.read_bool("session_tickets", out.session_tickets);
  r.read_duration("handshake_timeout", out.handshake_timeout);
  read_certificates(r, diag, out);
  read_client_auth(r, diag, out);
  r.finish();
}

}  // namespace ringproxy::config_detail
