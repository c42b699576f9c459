// The admin console's page (GET /): src/admin/console_page.html, embedded at build time.
#pragma once

#include <string_view>

namespace ringproxy {

// The whole page: HTML, CSS and script in one document, nothing loaded from elsewhere.
std::string_view console_page();

}  // namespace ringproxy
