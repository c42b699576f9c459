#include "policy/request_id.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace ringproxy {
namespace {

TEST(RequestIdGenerator, ThirtyTwoHexDigitsAndUnique) {
  RequestIdGenerator gen(42);
  std::set<std::string> seen;
  for (int i = 0; i < 10000; ++i) {
    std::string id(gen.next());
    ASSERT_EQ(id.size(), 32u);
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos);
    EXPECT_TRUE(seen.insert(id).second);
  }
}

TEST(RequestIdGenerator, SeedsGiveDifferentStreams) {
  RequestIdGenerator a(1), b(2), a2(1);
  const std::string first_a(a.next());
  EXPECT_NE(first_a, std::string(b.next()));
  EXPECT_EQ(first_a, std::string(a2.next()));
}

}  // namespace
}  // namespace ringproxy
