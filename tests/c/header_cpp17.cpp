// lnc.h must compile on its own as strict C++17 and link; the version macros match lnc_version().
#include "lnc.h"
#include <cstdio>
int main() {
  const uint32_t want = (LNC_VERSION_MAJOR << 16) | (LNC_VERSION_MINOR << 8) | LNC_VERSION_PATCH;
  if (lnc_version() != want) {
    std::printf("version macros %u != lnc_version() %u\n", want, lnc_version());
    return 1;
  }
  std::printf("header C++17 OK, liblnc %s\n", lnc_version_str());
  return 0;
}
