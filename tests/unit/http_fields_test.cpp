#include "policy/http_fields.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace ringproxy {
namespace {

TEST(HttpFields, HopByHopFieldsAreRecognisedCaseInsensitively) {
  for (const char* name : {"Connection", "keep-alive", "PROXY-CONNECTION", "TE", "Trailer",
                           "Transfer-Encoding", "upgrade"}) {
    EXPECT_TRUE(is_hop_by_hop(name)) << name;
  }
  for (const char* name : {"Host", "Content-Length", "X-Forwarded-For", "Trailers", "T"}) {
    EXPECT_FALSE(is_hop_by_hop(name)) << name;
  }
}

TEST(HttpFields, ConnectionListsTokens) {
  EXPECT_TRUE(connection_lists("close", "close"));
  EXPECT_TRUE(connection_lists("keep-alive, X-Secret ,Upgrade", "x-secret"));
  EXPECT_FALSE(connection_lists("keep-alive, X-Secret-2", "x-secret"));
  EXPECT_FALSE(connection_lists("", "close"));
}

TEST(HttpFields, ForEachTokenTrimsAndSkipsEmpty) {
  std::vector<std::string> tokens;
  for_each_token(" a,,b ,\tc\t, ", [&](std::string_view t) { tokens.emplace_back(t); });
  EXPECT_EQ(tokens, (std::vector<std::string>{"a", "b", "c"}));
}

TEST(HttpFields, IdempotentMethods) {
  for (const char* m : {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"}) {
    EXPECT_TRUE(is_idempotent_method(m)) << m;
  }
  for (const char* m : {"POST", "PATCH", "CONNECT", "get"}) {
    EXPECT_FALSE(is_idempotent_method(m)) << m;
  }
}

}  // namespace
}  // namespace ringproxy
