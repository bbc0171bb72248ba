/* nat_noentry: a library that forgot GPI_PLUGIN_DEFINE (exports no entry symbol). */
#include <gpi_plugin.h>

GPI_EXPORT int not_the_entry(void) { return 42; }
