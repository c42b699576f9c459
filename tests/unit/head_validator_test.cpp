// Tests for the strict validation of raw HTTP/1.1 request and response heads.
#include "policy/head_validator.hpp"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

namespace ringproxy {
namespace {

using namespace std::string_literals;  // "..."s keeps embedded NUL bytes

// One request head and the verdict it must get (status 0: accepted).
struct RequestCase {
  std::string name;
  std::string raw;
  int status;
  bool close;
};

// One response head and the verdict it must get.
struct ResponseCase {
  std::string name;
  std::string raw;
  int status;
  bool close;
};

void PrintTo(const RequestCase& c, std::ostream* os) {
  *os << c.name;
}
void PrintTo(const ResponseCase& c, std::ostream* os) {
  *os << c.name;
}

// "GET <target> HTTP/1.1" with Host and n - 1 more field lines (n field lines in all).
std::string with_field_lines(std::size_t n) {
  std::string head = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (std::size_t i = 1; i < n; ++i) head += "X-F" + std::to_string(i) + ": v\r\n";
  return head + "\r\n";
}

// A head with one field "X: " + n bytes of value (a request, or a 200 response).
std::string with_value_length(std::size_t n, bool response = false) {
  const std::string start = response ? "HTTP/1.1 200 OK\r\n" : "GET / HTTP/1.1\r\nHost: a\r\n";
  return start + "X: " + std::string(n, 'v') + "\r\n\r\n";
}

std::string with_target_length(std::size_t n) {
  return "GET /" + std::string(n - 1, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n";
}

std::vector<RequestCase> request_cases() {
  const std::size_t max_target = RequestHeadLimits{}.max_target;
  return {
      // Request-line.
      {"PlainGet", "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", 0, false},
      {"Http10WithoutHost", "GET / HTTP/1.0\r\n\r\n", 0, false},
      {"LowercaseMethodIsAToken", "get /x?y=1 HTTP/1.1\r\nHost: a\r\n\r\n", 0, false},
      {"MethodWithNonTchar", "GE(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, true},
      {"EmptyMethod", " / HTTP/1.1\r\nHost: a\r\n\r\n", 400, true},
      {"TabAfterMethod", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, true},
      {"DoubleSpaceBeforeTarget", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, true},
      {"DoubleSpaceBeforeVersion", "GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400, true},
      {"TrailingSpaceAfterVersion", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400, true},
      {"NoVersion", "GET /\r\nHost: a\r\n\r\n", 400, true},
      {"EmptyLineBeforeRequestLine", "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, true},
      {"Http20Is505", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, true},
      {"Http12IsHttp11", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 0, false},
      {"Http19IsHttp11", "GET / HTTP/1.9\r\nHost: a\r\n\r\n", 0, false},
      {"Http12NeedsHostAsHttp11", "GET / HTTP/1.2\r\n\r\n", 400, true},
      {"Http12MayBeChunked", "POST / HTTP/1.2\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 0,
       false},
      {"Http29Is505", "GET / HTTP/2.9\r\nHost: a\r\n\r\n", 505, true},
      {"Http09Is505", "GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505, true},
      {"Http1xMalformed", "GET / HTTP/1.x\r\nHost: a\r\n\r\n", 400, true},
      {"LowercaseHttpNameMalformed", "GET / http/1.1\r\nHost: a\r\n\r\n", 400, true},
      {"TwoDigitMinorMalformed", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400, true},
      {"TargetWithFragment", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", 400, true},
      {"TargetWithControl", "GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400, true},
      {"TargetWithDel", "GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400, true},
      {"TargetWithNonAscii", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400, true},
      {"TargetAtLimit", with_target_length(max_target), 0, false},
      {"TargetOverLimitIs414", with_target_length(max_target + 1), 414, true},
      // Request-target forms.
      {"AbsoluteFormWithOtherHost",
       "GET http://backend.example:8080/p?q HTTP/1.1\r\nHost: other.example\r\n\r\n", 0, false},
      {"AbsoluteFormHttpsUppercaseScheme", "GET HTTPS://A.example HTTP/1.1\r\nHost: a\r\n\r\n", 0,
       false},
      {"AbsoluteFormStillNeedsHost", "GET http://a.example/ HTTP/1.1\r\n\r\n", 400, true},
      {"AbsoluteFormWithUserinfo", "GET http://u@a.example/ HTTP/1.1\r\nHost: a\r\n\r\n", 400,
       true},
      {"AbsoluteFormEmptyHost", "GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", 400, true},
      {"OtherScheme", "GET ftp://a.example/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, true},
      {"RelativeTarget", "GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400, true},
      {"ConnectAuthorityForm", "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n", 0,
       false},
      {"ConnectWithoutPort", "CONNECT a.example HTTP/1.1\r\nHost: a\r\n\r\n", 400, true},
      {"ConnectOriginForm", "CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", 400, true},
      {"AuthorityFormNotConnect", "GET a.example:443 HTTP/1.1\r\nHost: a\r\n\r\n", 400, true},
      {"OptionsAsterisk", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 0, false},
      {"AsteriskNotOptions", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400, true},
      // Line ends and head boundaries.
      {"BareLfEndsRequestLine", "GET / HTTP/1.1\nHost: a\r\n\r\n", 400, true},
      {"BareLfEndsFieldLine", "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 400, true},
      {"BareLfInsideFieldValue", "GET / HTTP/1.1\r\nHost: a\r\nX: b\nc\r\n\r\n", 400, true},
      {"BareCrInsideFieldValue", "GET / HTTP/1.1\r\nHost: a\r\nX: b\rc\r\n\r\n", 400, true},
      {"BareLfEmptyLine", "GET / HTTP/1.1\r\nHost: a\n\n", 400, true},
      {"NotTerminated", "GET / HTTP/1.1\r\nHost: a\r\n", 400, true},
      {"BytesAfterHead", "GET / HTTP/1.1\r\nHost: a\r\n\r\nX", 400, true},
      {"Empty", "", 400, true},
      // Field-line syntax.
      {"SpaceBeforeColon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, true},
      {"TabBeforeColon", "GET / HTTP/1.1\r\nHost: a\r\nX\t: b\r\n\r\n", 400, true},
      {"ObsFold", "GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n", 400, true},
      {"WhitespaceBeforeFirstField", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400, true},
      {"FieldWithoutColon", "GET / HTTP/1.1\r\nHost: a\r\nX-No-Colon\r\n\r\n", 400, true},
      {"EmptyFieldName", "GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", 400, true},
      {"NonTokenFieldName", "GET / HTTP/1.1\r\nHost: a\r\nX(Y): b\r\n\r\n", 400, true},
      {"NulInValue", "GET / HTTP/1.1\r\nHost: a\r\nX: b\0c\r\n\r\n"s, 400, true},
      {"DelInValue", "GET / HTTP/1.1\r\nHost: a\r\nX: b\x7f\r\n\r\n", 400, true},
      {"EscapeInValue", "GET / HTTP/1.1\r\nHost: a\r\nX: \x1b[0m\r\n\r\n", 400, true},
      {"TabAndObsTextInValue", "GET / HTTP/1.1\r\nHost: a\r\nX:\tb\tc \xe9\t\r\n\r\n", 0, false},
      {"EmptyValue", "GET / HTTP/1.1\r\nHost: a\r\nX:\r\n\r\n", 0, false},
      {"HundredFieldLines", with_field_lines(100), 0, false},
      {"HundredAndOneFieldLinesIs431", with_field_lines(101), 431, true},
      // Beast holds a field's name or value (OWS included) in at most 65533 bytes, and throws
      // beyond: 431 past it, whatever max_header_bytes allows.
      {"FieldValueAtTheLimit", with_value_length(65532), 0, false},
      {"FieldValuePastTheLimitIs431", with_value_length(65533), 431, true},
      {"FieldNamePastTheLimitIs431",
       "GET / HTTP/1.1\r\nHost: a\r\n" + std::string(65534, 'n') + ": v\r\n\r\n", 431, true},
      // Host.
      {"MissingHostHttp11", "GET / HTTP/1.1\r\nX: a\r\n\r\n", 400, true},
      {"TwoHostLines", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400, true},
      {"TwoHostLinesHttp10", "GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", 400, true},
      {"HostCaseInsensitiveName", "GET / HTTP/1.1\r\nhOST: a\r\n\r\n", 0, false},
      {"HostWithPort", "GET / HTTP/1.1\r\nHost: a.example:8080\r\n\r\n", 0, false},
      {"HostIpv4", "GET / HTTP/1.1\r\nHost: 10.0.0.1\r\n\r\n", 0, false},
      {"HostIpv6WithPort", "GET / HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n\r\n", 0, false},
      {"HostWithSpace", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, true},
      {"HostWithSlash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, true},
      {"HostWithUserinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400, true},
      {"HostEmpty", "GET / HTTP/1.1\r\nHost: \r\n\r\n", 400, true},
      {"HostEmptyPort", "GET / HTTP/1.1\r\nHost: a:\r\n\r\n", 400, true},
      {"HostPortTooLarge", "GET / HTTP/1.1\r\nHost: a:65536\r\n\r\n", 400, true},
      {"HostIpv6Unclosed", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400, true},
      {"HostInvalidOnHttp10", "GET / HTTP/1.0\r\nHost: a b\r\n\r\n", 400, true},
      // Content-Length.
      {"ContentLength", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n", 0, false},
      {"ContentLengthOwsTrimmed", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\t 3 \r\n\r\n", 0,
       false},
      {"ContentLengthNoSpace", "POST / HTTP/1.1\r\nHost: a\r\ncontent-length:0\r\n\r\n", 0, false},
      {"ContentLengthMax",
       "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n", 0, false},
      {"ContentLengthNegative", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400,
       true},
      {"ContentLengthPlus", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n", 400, true},
      {"ContentLengthAlpha", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n", 400,
       true},
      {"ContentLengthList", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3,2\r\n\r\n", 400, true},
      {"ContentLengthEqualList", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\n", 400,
       true},
      {"ContentLengthInnerSpace", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3 3\r\n\r\n", 400,
       true},
      {"ContentLengthEmpty", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", 400, true},
      {"ContentLengthOverflow",
       "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 400, true},
      {"ContentLengthJustOver63Bits",
       "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n", 400, true},
      {"ContentLengthDuplicateEqual",
       "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", 400, true},
      {"ContentLengthDuplicateDifferent",
       "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400, true},
      // Transfer-Encoding.
      {"Chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 0, false},
      {"ChunkedMixedCase", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n", 0,
       false},
      {"ChunkedWithEmptyListElements",
       "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , chunked ,\r\n\r\n", 0, false},
      {"ContentLengthWithTransferEncoding",
       "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
       true},
      {"TransferEncodingWithContentLength",
       "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400,
       true},
      {"TransferEncodingHttp10", "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
       400, true},
      {"GzipThenChunkedIs501",
       "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, true},
      {"DeflateThenChunkedIs501",
       "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: deflate,chunked\r\n\r\n", 501, true},
      {"UnknownThenChunkedIs501",
       "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: foo, chunked\r\n\r\n", 501, true},
      {"IdentityThenChunkedIs501",
       "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity, chunked\r\n\r\n", 501, true},
      {"IdentityAloneIs400", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n",
       400, true},
      {"GzipAloneIs400", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400,
       true},
      {"ChunkedThenGzip", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
       400, true},
      {"ChunkedTwice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
       400, true},
      {"ChunkedOnTwoLines",
       "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"
       "\r\n",
       400, true},
      {"GzipAndChunkedOnTwoLinesIs501",
       "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: "
       "chunked\r\n\r\n",
       501, true},
      {"ChunkedWithParameter",
       "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;x=1\r\n\r\n", 400, true},
      {"TransferEncodingEmpty", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", 400,
       true},
      {"TransferCodingNotAToken",
       "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: a b, chunked\r\n\r\n", 400, true},
      // Expect.
      {"Expect100Continue", "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n", 0, false},
      {"Expect100ContinueMixedCase", "POST / HTTP/1.1\r\nHost: a\r\nexpect: 100-Continue\r\n\r\n",
       0, false},
      {"ExpectOtherIs417", "POST / HTTP/1.1\r\nHost: a\r\nExpect: foo\r\n\r\n", 417, true},
      {"ExpectListIs417", "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue, foo\r\n\r\n", 417,
       true},
  };
}

std::vector<ResponseCase> response_cases() {
  std::string many_fields = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 101; ++i) many_fields += "X-F" + std::to_string(i) + ": v\r\n";
  many_fields += "\r\n";
  return {
      // Status-line.
      {"Ok", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", 0, false},
      {"FieldValueAtTheLimit", with_value_length(65532, true), 0, false},
      {"FieldValuePastTheLimitIs502", with_value_length(65533, true), 502, true},
      {"Http10", "HTTP/1.0 200 OK\r\n\r\n", 0, false},
      {"NoReasonNoSpace", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", 502, true},
      {"EmptyReasonWithSpace", "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", 0, false},
      {"EmptyReason", "HTTP/1.1 404 \r\n\r\n", 0, false},
      {"ReasonWithTabAndObsText", "HTTP/1.1 200 O\tK \xe9\r\n\r\n", 0, false},
      {"TwoDigitStatus", "HTTP/1.1 20 OK\r\n\r\n", 502, true},
      {"FourDigitStatus", "HTTP/1.1 2000 OK\r\n\r\n", 502, true},
      {"StatusBelow100", "HTTP/1.1 099 X\r\n\r\n", 502, true},
      {"StatusAbove599", "HTTP/1.1 600 X\r\n\r\n", 502, true},
      {"DoubleSpaceBeforeStatus", "HTTP/1.1  200 OK\r\n\r\n", 502, true},
      {"Http20", "HTTP/2.0 200 OK\r\n\r\n", 502, true},
      {"Http12", "HTTP/1.2 200 OK\r\n\r\n", 502, true},
      {"ControlInReason", "HTTP/1.1 200 O\x01K\r\n\r\n", 502, true},
      {"NotTerminated", "HTTP/1.1 200 OK\r\n", 502, true},
      // Field lines.
      {"BareLf", "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", 502, true},
      {"BareCr", "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", 502, true},
      {"ObsFold", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", 502, true},
      {"SpaceBeforeColon", "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n", 502, true},
      {"FieldWithoutColon", "HTTP/1.1 200 OK\r\nX\r\n\r\n", 502, true},
      {"NulInValue", "HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n"s, 502, true},
      {"TooManyFieldLines", many_fields, 502, true},
      // Framing.
      {"ContentLengthWithTransferEncoding",
       "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n", 502, true},
      {"ContentLengthDuplicateDifferent",
       "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n", 502, true},
      {"ContentLengthDuplicateEqual",
       "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n", 502, true},
      {"ContentLengthInvalid", "HTTP/1.1 200 OK\r\nContent-Length: 2a\r\n\r\n", 502, true},
      {"Chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 0, false},
      {"Gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 502, true},
      {"GzipThenChunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 502, true},
      {"ChunkedTwice",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 502,
       true},
      {"ChunkedOnHttp10", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 502, true},
      {"NoContentWithTransferEncoding",
       "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n", 502, true},
      {"NotModifiedWithTransferEncoding",
       "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", 502, true},
      {"InformationalWithTransferEncoding",
       "HTTP/1.1 100 Continue\r\nTransfer-Encoding: chunked\r\n\r\n", 502, true},
      {"NoContentWithContentLength", "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", 0,
       false},
      {"NotModifiedWithContentLength", "HTTP/1.1 304 Not Modified\r\nContent-Length: 42\r\n\r\n", 0,
       false},
      {"Informational", "HTTP/1.1 100 Continue\r\n\r\n", 0, false},
      {"HeadResponseWithContentLength", "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", 0,
       false},
      {"HeadResponseChunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 0, false},
      {"HeadResponseInvalidContentLength", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 502,
       true},
  };
}

class RequestHead : public ::testing::TestWithParam<RequestCase> {};

TEST_P(RequestHead, Verdict) {
  const RequestCase& c = GetParam();
  HeadVerdict v = validate_request_head(c.raw, RequestHeadLimits{});
  EXPECT_EQ(v.status, c.status) << v.reason;
  EXPECT_EQ(v.close, c.close) << v.reason;
  EXPECT_EQ(static_cast<bool>(v), c.status == 0);
  EXPECT_EQ(v.reason.empty(), c.status == 0) << v.reason;
}

INSTANTIATE_TEST_SUITE_P(Table, RequestHead, ::testing::ValuesIn(request_cases()),
                         [](const auto& p) { return p.param.name; });

class ResponseHead : public ::testing::TestWithParam<ResponseCase> {};

TEST_P(ResponseHead, Verdict) {
  const ResponseCase& c = GetParam();
  HeadVerdict v = validate_response_head(c.raw);
  EXPECT_EQ(v.status, c.status) << v.reason;
  EXPECT_EQ(v.close, c.close) << v.reason;
  EXPECT_EQ(static_cast<bool>(v), c.status == 0);
  EXPECT_EQ(v.reason.empty(), c.status == 0) << v.reason;
}

INSTANTIATE_TEST_SUITE_P(Table, ResponseHead, ::testing::ValuesIn(response_cases()),
                         [](const auto& p) { return p.param.name; });

TEST(HeadValidator, MaxTargetIsConfigurable) {
  RequestHeadLimits limits;
  limits.max_target = 4;
  EXPECT_EQ(validate_request_head("GET /abc HTTP/1.1\r\nHost: a\r\n\r\n", limits).status, 0);
  EXPECT_EQ(validate_request_head("GET /abcd HTTP/1.1\r\nHost: a\r\n\r\n", limits).status, 414);
}

TEST(HeadValidator, MaxFieldsIsConfigurable) {
  RequestHeadLimits limits;
  limits.max_fields = 2;
  EXPECT_EQ(validate_request_head("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n\r\n", limits).status, 0);
  EXPECT_EQ(
      validate_request_head("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\nY: c\r\n\r\n", limits).status,
      431);
}

TEST(FindHeadEnd, ReturnsOffsetPastTheEmptyLine) {
  const std::string head = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  EXPECT_EQ(find_head_end(head + "BODY"), head.size());
  EXPECT_EQ(find_head_end(head), head.size());
  EXPECT_EQ(find_head_end("\r\n\r\n"), 4u);
  EXPECT_EQ(find_head_end("HTTP/1.1 200 OK\r\n\r\n\r\n\r\n"), 19u);  // the first one
}

TEST(FindHeadEnd, NotThereYet) {
  EXPECT_EQ(find_head_end(""), std::string_view::npos);
  EXPECT_EQ(find_head_end("GET / HTTP/1.1\r\nHost: a\r\n"), std::string_view::npos);
  EXPECT_EQ(find_head_end("GET / HTTP/1.1\r\nHost: a\r\n\r"), std::string_view::npos);
}

TEST(FindHeadEnd, BareLfDoesNotEndAHead) {
  EXPECT_EQ(find_head_end("GET / HTTP/1.1\nHost: a\n\n"), std::string_view::npos);
  EXPECT_EQ(find_head_end("GET / HTTP/1.1\r\nHost: a\n\r\n"), std::string_view::npos);
  EXPECT_EQ(find_head_end("GET / HTTP/1.1\r\nHost: a\r\n\n"), std::string_view::npos);
}

}  // namespace
}  // namespace ringproxy

namespace ringproxy {
namespace {

TEST(PartialRequestHead, AcceptsAnUnfinishedButValidStart) {
  EXPECT_TRUE(check_partial_request_head("GET /index.html HTTP/1.1\r\nHost: a\r"));
  EXPECT_TRUE(check_partial_request_head(""));
  EXPECT_TRUE(check_partial_request_head("GE"));
}

TEST(PartialRequestHead, RefusesABareLfAtOnce) {
  const HeadVerdict v = check_partial_request_head("GET / HTTP/1.1\nHost: a");
  EXPECT_EQ(v.status, 400);
  EXPECT_TRUE(v.close);
  EXPECT_EQ(check_partial_request_head("GET / HTTP/1.1\r\nHost: a\n\n").status, 400);
  EXPECT_EQ(check_partial_request_head("\n").status, 400);
}

TEST(PartialRequestHead, RefusesABareCrFollowedByAnythingButLf) {
  EXPECT_EQ(check_partial_request_head("GET / HTTP/1.1\rHost: a").status, 400);
}

TEST(PartialResponseHead, RefusesBareLineEndsWith502) {
  EXPECT_TRUE(check_partial_response_head("HTTP/1.1 200 OK\r\nContent-Length: 2\r"));
  EXPECT_EQ(check_partial_response_head("HTTP/1.1 200 OK\nContent-Length: 2\n\nok").status, 502);
  EXPECT_EQ(check_partial_response_head("HTTP/1.1 200 OK\rX").status, 502);
}

TEST(PartialRequestHead, RefusesAnEndlessRequestLineWith414) {
  RequestHeadLimits limits;
  limits.max_target = 100;
  const std::string at_limit = "GET /" + std::string(99, 'a');  // no line end yet
  EXPECT_TRUE(check_partial_request_head(at_limit, limits));
  const std::string over = "GET /" + std::string(200, 'a');
  const HeadVerdict v = check_partial_request_head(over, limits);
  EXPECT_EQ(v.status, 414);
  EXPECT_TRUE(v.close);
  // Once the request-line has ended, the length is validate_request_head's business.
  EXPECT_TRUE(check_partial_request_head("GET / HTTP/1.1\r\nX: " + std::string(500, 'v'), limits));
}

TEST(LeadingEmptyLines, CountsWholeCrlfsOnly) {
  EXPECT_EQ(leading_empty_lines(""), 0u);
  EXPECT_EQ(leading_empty_lines("GET / HTTP/1.1\r\n"), 0u);
  EXPECT_EQ(leading_empty_lines("\r\nGET"), 1u);
  EXPECT_EQ(leading_empty_lines("\r\n\r\n\r\n\r\n\r\nGET"), 5u);
  EXPECT_EQ(leading_empty_lines("\r\n\r"), 1u);  // the CR may still get its LF
  EXPECT_EQ(leading_empty_lines("\n\r\n"), 0u);  // a bare LF is refused by the validator
}

TEST(LaterMinorVersion, PointsAtTheMinorDigitOfHttp1xAbove1) {
  const std::string head = "GET / HTTP/1.2\r\nHost: a\r\n\r\n";
  ASSERT_EQ(later_minor_version_at(head), head.find("1.2") + 2);
  EXPECT_EQ(later_minor_version_at("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), std::string::npos);
  EXPECT_EQ(later_minor_version_at("GET / HTTP/1.0\r\n\r\n"), std::string::npos);
  EXPECT_EQ(later_minor_version_at("GET / HTTP/2.2\r\n\r\n"), std::string::npos);
  // A field value that looks like a version is not the request-line's.
  EXPECT_EQ(later_minor_version_at("GET / HTTP/1.1\r\nX: HTTP/1.2\r\n\r\n"), std::string::npos);
}

}  // namespace
}  // namespace ringproxy
