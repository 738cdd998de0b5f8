#include "util/result.h"

namespace bpfrec {

std::string_view to_string(ErrorKind k) {
  switch (k) {
    case ErrorKind::Missing: return "missing";
    case ErrorKind::NotFound: return "not_found";
    case ErrorKind::Permission: return "permission";
    case ErrorKind::Unsupported: return "unsupported";
    case ErrorKind::Busy: return "busy";
    case ErrorKind::Exhausted: return "exhausted";
    case ErrorKind::Invalid: return "invalid";
    case ErrorKind::Transient: return "transient";
    case ErrorKind::Changed: return "changed";
    case ErrorKind::Other: break;
  }
  return "other";
}

}  // namespace bpfrec
