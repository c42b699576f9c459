// What a body relay keeps to pass a chunked message's trailer section on (the section itself:
// trailer_section.hpp). Apart so that the exchange's header stays light.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace ringproxy {

// The last chunk of a body that has no trailer section to pass on.
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

// A message's head fields, noted once its head is parsed, to tell them from the trailer fields
// Beast's parser adds later. Not by count: Beast inserts a field right after the last one of
// the same name, so a trailer field can land among the head's. Element addresses are stable.
// A local of one message.
class HeadFields {
 public:
  template <class Fields>
  void note(const Fields& fields) {
    std::size_t n = 0;
    for (auto it = fields.begin(); it != fields.end(); ++it) ++n;
    head_.clear();
    head_.reserve(n);
    for (const auto& f : fields) head_.push_back(&f);
  }
  std::size_t size() const { return head_.size(); }
  // True when element (at the walk's position next, advanced past it then) is a head field.
  bool is_head(const void* element, std::size_t& next) const {
    if (next < head_.size() && head_[next] == element) {
      ++next;
      return true;
    }
    return false;
  }

 private:
  std::vector<const void*> head_;  // in list order (insertions never reorder them)
};

// What a body relay does with a chunked message's trailer section. A local of one message.
struct TrailerRelay {
  HeadFields head;              // the message's fields once its head was parsed
  std::size_t limit = 0;        // the section's bytes at most (a head's limit)
  bool pass = false;            // the receiver gets the fields (else only the last chunk)
  std::string end{kLastChunk};  // the last chunk and the section passed on, once it ended
};

}  // namespace ringproxy
