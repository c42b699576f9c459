// The request path's hop-by-hop check by field code agrees with the policy's rule by name.
#include "http/forwarded_head.hpp"

#include <gtest/gtest.h>

#include <boost/beast/http/field.hpp>

#include "policy/http_fields.hpp"

namespace ringproxy {
namespace {

namespace http = boost::beast::http;

TEST(ForwardedHead, HopByHopByCodeMatchesTheRuleByName) {
  // Every field Beast knows, by code and by its name.
  for (unsigned code = 1; code <= static_cast<unsigned>(http::field::xref); ++code) {
    const auto id = static_cast<http::field>(code);
    const std::string_view name = http::to_string(id);
    if (name.empty()) continue;
    EXPECT_EQ(is_hop_by_hop_field(id), is_hop_by_hop(name)) << name;
  }
  for (const char* name : {"Connection", "keep-alive", "Proxy-Connection", "TE", "Trailer",
                           "Transfer-Encoding", "upgrade"}) {
    EXPECT_TRUE(is_hop_by_hop_field(http::string_to_field(name))) << name;
  }
}

}  // namespace
}  // namespace ringproxy
