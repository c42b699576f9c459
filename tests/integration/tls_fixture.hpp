// The TLS integration tests' fixture: certificates made by the openssl command in a temp
// directory for each test, and [tls] tables over them.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "integration/proxy_fixture.hpp"

namespace ringproxy::test {

// ProxyTest with a temp directory for certificates and the TOML that uses them.
class TlsProxyTest : public ProxyTest {
 protected:
  void SetUp() override { dir_ = make_temp_dir("ringproxy-tls"); }
  void TearDown() override {
    ProxyTest::TearDown();
    remove_temp_dir(dir_);
  }

  std::string file(const std::string& name) const { return (dir_ / name).string(); }

  // Runs a command to completion; the test fails when it does not exit 0.
  ProxyProcess::RunResult run(const std::string& binary, const std::vector<std::string>& args) {
    auto r = ProxyProcess::run(binary, args, 60s);
    EXPECT_EQ(r.exit_code, 0) << binary << " failed:\n" << r.output;
    return r;
  }

  // NAME.crt and NAME.key: a self-signed certificate for cn with these DNS SANs (ECDSA P-256,
  // or RSA 2048), or one signed by the CA issuer (issuer.crt/.key) when given.
  void make_cert(const std::string& name, const std::string& subject,
                 const std::vector<std::string>& sans, bool rsa = false,
                 const std::string& issuer = "") {
    std::vector<std::string> args = {"req", "-newkey"};
    if (rsa) {
      args.insert(args.end(), {"rsa:2048"});
    } else {
      args.insert(args.end(), {"ec", "-pkeyopt", "ec_paramgen_curve:P-256"});
    }
    args.insert(args.end(), {"-nodes", "-keyout", file(name + ".key"), "-subj", subject});
    std::string san;
    for (const auto& s : sans) san += (san.empty() ? "DNS:" : ",DNS:") + s;
    if (issuer.empty()) {
      args.insert(args.end(), {"-x509", "-days", "2", "-out", file(name + ".crt")});
      if (!san.empty()) args.insert(args.end(), {"-addext", "subjectAltName=" + san});
      run("/usr/bin/openssl", args);
      return;
    }
    args.insert(args.end(), {"-out", file(name + ".csr")});
    run("/usr/bin/openssl", args);
    run("/usr/bin/openssl",
        {"x509", "-req", "-in", file(name + ".csr"), "-CA", file(issuer + ".crt"), "-CAkey",
         file(issuer + ".key"), "-CAcreateserial", "-days", "2", "-out", file(name + ".crt")});
  }

  // A [[tls.certificate]] table for NAME.crt/.key, with server_names when given.
  std::string cert_table(const std::string& name, const std::string& server_names = "") const {
    std::string out = "  [[tls.certificate]]\n  cert = \"" + file(name + ".crt") +
                      "\"\n  key = \"" + file(name + ".key") + "\"\n";
    if (!server_names.empty()) out += "  server_names = " + server_names + "\n";
    return out;
  }

  // [tls] on 127.0.0.1:0 with extra lines, then the certificate tables.
  static std::string tls_table(const std::string& certs, const std::string& extra = "") {
    return "\n[tls]\nlisten = [\"127.0.0.1:0\"]\n" + extra + "\n" + certs;
  }

  std::uint16_t tls_port() const { return proxy_->port(1); }

  // One origin behind upstream "app", and the proxy with a TLS listener serving the
  // certificate "site" (subject, SAN site.test): the setup most TLS tests share.
  bool start_site_proxy(const std::string& subject = "/CN=site.test") {
    start_origins(1);
    make_cert("site", subject, {"site.test"});
    return start_proxy(ProxyOptions().only_tables(upstream_toml("app", {origin().address()}) +
                                                  tls_table(cert_table("site"))));
  }

  // A labelled TLS metric of the proxy's one TLS listener ("" when absent).
  std::string tls_metric(const std::string& name, const std::string& reason = "") {
    std::string labels = "{listener=\"127.0.0.1:0\"";
    if (!reason.empty()) labels += ",reason=\"" + reason + "\"";
    return metric_text("ringproxy_" + name + labels + "}");
  }

  HttpResponse post_reload() {
    HttpClient client;
    client.set_timeout(10s);
    if (!client.connect(proxy_->admin_port())) return HttpResponse{};
    return client.request("POST", "/reload");
  }

  std::filesystem::path dir_;
};

}  // namespace ringproxy::test
