/* lnc.h must compile on its own as strict C11. */
#include "lnc.h"
#if LNC_VERSION_MAJOR < 0
#error bad version macro
#endif
uint32_t lnc_header_c11_probe(void);
uint32_t lnc_header_c11_probe(void) { return lnc_version(); }
