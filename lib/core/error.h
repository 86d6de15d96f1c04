// Errors: what the user got wrong versus what we got wrong.
//
// QUAROT_CHECK is for input (files, flags, shapes a user can pass): its message
// must name the file, tensor, field or argument at fault. QUAROT_ASSERT is for
// our own invariants; its message carries file and line because it means a bug.
// The front ends map Error to exit code 2 and InternalError to 3.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace quarot {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class InternalError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

namespace detail {
template <typename... Args>
std::string concat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}
}  // namespace detail

}  // namespace quarot

#define QUAROT_CHECK(cond, ...)                                         \
  do {                                                                  \
    if (!(cond)) throw ::quarot::Error(::quarot::detail::concat(__VA_ARGS__)); \
  } while (0)

#define QUAROT_FAIL(...) throw ::quarot::Error(::quarot::detail::concat(__VA_ARGS__))

#define QUAROT_ASSERT(cond, ...)                                                   \
  do {                                                                             \
    if (!(cond))                                                                   \
      throw ::quarot::InternalError(::quarot::detail::concat(                      \
          "internal error at ", __FILE__, ":", __LINE__, ": ", #cond, " ", ##__VA_ARGS__)); \
  } while (0)
