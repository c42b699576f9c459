// Canned responses the proxy writes itself (errors, 100 Continue).
#pragma once

#include <string>
#include <string_view>

namespace ringproxy {

// The standard reason phrase for status ("Unknown" if none).
std::string_view reason_phrase(int status);
// A complete HTTP/1.1 response with a short text body and Content-Length.
std::string make_status_response(int status, bool keep_alive, std::string_view extra_headers = {});

inline constexpr std::string_view kContinueResponse = "HTTP/1.1 100 Continue\r\n\r\n";

}  // namespace ringproxy
