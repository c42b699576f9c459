// Tests for hash_key parsing and request key extraction (views into the request, no copies).
#include "policy/hash_key.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <string>

namespace ringproxy {
namespace {

HashKeySpec spec(std::string_view text) {
  auto s = HashKeySpec::parse(text);
  EXPECT_TRUE(s) << text;
  return s.value_or(HashKeySpec{});
}

TEST(HashKey, ParsesEveryKind) {
  using K = HashKeySpec::Kind;
  struct Case {
    std::string_view text;
    K kind;
    std::string_view name;
  };
  const Case cases[] = {
      {"client_ip", K::client_ip, ""},
      {"uri", K::uri, ""},
      {"path", K::path, ""},
      {"header:X-User", K::header, "X-User"},
      {"cookie:session", K::cookie, "session"},
      {"query:id", K::query, "id"},
  };
  for (const auto& c : cases) {
    auto s = HashKeySpec::parse(c.text);
    ASSERT_TRUE(s) << c.text;
    EXPECT_EQ(s->kind, c.kind) << c.text;
    EXPECT_EQ(s->name, c.name) << c.text;
  }
}

TEST(HashKey, RejectsMalformedSpecs) {
  for (std::string_view text : {"", "ip", "client_ip:x", "header", "header:", "cookie:", "query:",
                                "header:X User", "body:x", "URI", "header:\tx"}) {
    EXPECT_FALSE(HashKeySpec::parse(text)) << text;
  }
}

// One request: its headers (first value by case-insensitive name), target and client.
struct Request {
  std::map<std::string, std::string> headers;  // lower-case names
  std::string target = "/";
  std::string client_ip = "192.0.2.7";

  std::string_view header(std::string_view name) const {
    std::string lower(name);
    for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    auto it = headers.find(lower);
    return it == headers.end() ? std::string_view{} : std::string_view(it->second);
  }
};

std::string key_of(std::string_view spec_text, const Request& r) {
  auto lookup = [&](std::string_view name) { return r.header(name); };
  return std::string(request_key(spec(spec_text), KeySource{r.client_ip, r.target, lookup}));
}

TEST(HashKey, ExtractsEachKind) {
  Request r;
  r.target = "/shop/cart?user=u-42&lang=en&user=u-99#frag";
  r.headers = {{"x-user", "  alice  "}, {"cookie", "theme=dark; session=s-123 ;lang=en"}};
  struct Case {
    std::string_view spec;
    std::string_view key;
  };
  const Case cases[] = {
      {"client_ip", "192.0.2.7"},  {"uri", "/shop/cart?user=u-42&lang=en&user=u-99#frag"},
      {"path", "/shop/cart"},      {"header:X-User", "alice"},  // trimmed
      {"header:x-user", "alice"},                               // the lookup is case-insensitive
      {"cookie:session", "s-123"},                              // trimmed
      {"cookie:theme", "dark"},                                 // first pair
      {"cookie:lang", "en"},                                    // last pair, no space after ';'
      {"query:user", "u-42"},                                   // first occurrence
      {"query:lang", "en"},                                     //
  };
  for (const auto& c : cases) EXPECT_EQ(key_of(c.spec, r), c.key) << c.spec;
}

TEST(HashKey, QueryValuesAreRawAndExact) {
  Request r;
  r.target = "/p?a%20b=1&q=caf%C3%A9+x&flag&empty=&x=1=2&qq=no";
  EXPECT_EQ(key_of("query:q", r), "caf%C3%A9+x");  // no decoding
  EXPECT_EQ(key_of("query:x", r), "1=2");
  EXPECT_EQ(key_of("query:a%20b", r), "1");
  EXPECT_EQ(key_of("query:flag", r), r.client_ip);   // present without a value
  EXPECT_EQ(key_of("query:empty", r), r.client_ip);  // empty value
  EXPECT_EQ(key_of("query:Q", r), r.client_ip);      // names are case-sensitive
}

TEST(HashKey, CookieNamesMatchWhole) {
  Request r;
  r.headers = {{"cookie", "xsession=1; session_id=2; session=3"}};
  EXPECT_EQ(key_of("cookie:session", r), "3");
  r.headers = {{"cookie", "a=1; =2; b; session=\"q v\""}};
  EXPECT_EQ(key_of("cookie:session", r), "\"q v\"");  // raw, quotes kept
  EXPECT_EQ(key_of("cookie:b", r), r.client_ip);
}

TEST(HashKey, MissingKeyHashesOnTheClientAddress) {
  Request r;
  r.target = "?only=query";
  for (std::string_view s :
       {"header:X-User", "cookie:session", "query:user", "path", "query:only2"}) {
    EXPECT_EQ(key_of(s, r), "192.0.2.7") << s;
  }
  r.headers = {{"x-user", "   "}, {"cookie", "other=1"}};
  EXPECT_EQ(key_of("header:X-User", r), "192.0.2.7");
  EXPECT_EQ(key_of("cookie:session", r), "192.0.2.7");
  r.target = "";
  EXPECT_EQ(key_of("uri", r), "192.0.2.7");

  auto lookup = [&](std::string_view name) { return r.header(name); };
  KeySource source{r.client_ip, r.target, lookup};
  EXPECT_EQ(hash_request_key(spec("cookie:session"), source),
            hash_request_key(spec("client_ip"), source));
}

TEST(HashKey, HashIsXxh3OfTheKeyBytes) {
  // Pinned XXH3-64 values: the key hash is part of the golden mapping.
  EXPECT_EQ(hash_key_bytes(""), 0x2d06800538d394c2ULL);
  EXPECT_EQ(hash_key_bytes("key-0"), 0x819f6b51706f0178ULL);
  Request r;
  r.target = "/a/b?c=d";
  auto lookup = [&](std::string_view name) { return r.header(name); };
  KeySource source{r.client_ip, r.target, lookup};
  EXPECT_EQ(hash_request_key(spec("path"), source), hash_key_bytes("/a/b"));
  EXPECT_EQ(hash_request_key(spec("query:c"), source), hash_key_bytes("d"));
}

TEST(HashKey, KeysAreViewsIntoTheRequest) {
  // Extraction copies nothing: every key is a slice of the target, a header value or the
  // client address (so it cannot have allocated).
  const std::string cookie = "a=1; sid=abc; b=2";
  const std::string user = "bob";
  const std::string target = "/x/y?id=17&z=1";
  const std::string client = "198.51.100.1";
  auto lookup = [&](std::string_view name) -> std::string_view {
    return name == "Cookie" ? std::string_view(cookie) : std::string_view(user);
  };
  KeySource source{client, target, lookup};
  auto inside = [](std::string_view part, const std::string& whole) {
    return std::less_equal<const char*>()(whole.data(), part.data()) &&
           std::less_equal<const char*>()(part.data() + part.size(), whole.data() + whole.size());
  };
  EXPECT_TRUE(inside(request_key(spec("client_ip"), source), client));
  EXPECT_TRUE(inside(request_key(spec("uri"), source), target));
  EXPECT_TRUE(inside(request_key(spec("path"), source), target));
  EXPECT_TRUE(inside(request_key(spec("query:id"), source), target));
  EXPECT_TRUE(inside(request_key(spec("header:X-User"), source), user));
  EXPECT_TRUE(inside(request_key(spec("cookie:sid"), source), cookie));
  EXPECT_EQ(request_key(spec("cookie:sid"), source), "abc");
  EXPECT_EQ(request_key(spec("query:id"), source), "17");
}

}  // namespace
}  // namespace ringproxy
