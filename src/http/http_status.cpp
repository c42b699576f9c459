#include "http/http_status.hpp"

namespace ringproxy {

std::string_view reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 417:
      return "Expectation Failed";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

std::string make_status_response(int status, bool keep_alive, std::string_view extra_headers) {
  const std::string_view reason = reason_phrase(status);
  std::string body = std::to_string(status);
  body.push_back(' ');
  body.append(reason);
  body.push_back('\n');
  std::string out;
  out.reserve(160 + extra_headers.size() + body.size());
  out.append("HTTP/1.1 ").append(std::to_string(status)).append(" ").append(reason);
  out.append("\r\nServer: ringproxy\r\nContent-Type: text/plain\r\nContent-Length: ");
  out.append(std::to_string(body.size()));
  out.append(keep_alive ? "\r\n" : "\r\nConnection: close\r\n");
  out.append(extra_headers);
  out.append("\r\n");
  out.append(body);
  return out;
}

}  // namespace ringproxy
