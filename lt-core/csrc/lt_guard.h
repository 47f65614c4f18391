// Shared by the shim's translation units: every C entry point runs its body in `lt::guard`, so
// no C++ exception ever crosses into Rust; the message goes, as one line, into the caller's
// buffer and the return code says what kind of failure it was.
#pragma once

#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>

#include <c10/util/Exception.h>

namespace lt {

enum Code { OK = 0, ERR_ARG = 1, ERR_TORCH = 2, ERR_OTHER = 3, ERR_UNAVAILABLE = 4 };

// A feature this build lacks (a backend that was not compiled in).
struct Unavailable : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Writes the first line of `msg` (c10 messages carry backtraces on later lines) into `buf`.
inline void put_err(char* buf, size_t len, const std::string& msg) {
  if (buf == nullptr || len == 0) return;
  std::string line = msg.substr(0, msg.find('\n'));
  std::snprintf(buf, len, "%s", line.c_str());
}

// Runs `f`; returns OK, or the failure's code with its message in `err`.
template <typename F>
int guard(char* err, size_t errlen, F&& f) {
  try {
    f();
    return OK;
  } catch (const Unavailable& e) {
    put_err(err, errlen, e.what());
    return ERR_UNAVAILABLE;
  } catch (const std::invalid_argument& e) {
    put_err(err, errlen, e.what());
    return ERR_ARG;
  } catch (const c10::Error& e) {
    put_err(err, errlen, e.what_without_backtrace());
    return ERR_TORCH;
  } catch (const std::exception& e) {
    put_err(err, errlen, e.what());
    return ERR_OTHER;
  } catch (...) {
    put_err(err, errlen, "unknown C++ exception");
    return ERR_OTHER;
  }
}

}  // namespace lt
