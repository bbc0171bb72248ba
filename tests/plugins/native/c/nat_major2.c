/* nat_major2: an entry that announces ABI 2.0 (what a plugin of a future major looks like). */
#include <gpi_plugin.h>

static int init(const gpi_host *h, gpi_decl *decl) {
    (void)h;
    (void)decl;
    return 0;
}

GPI_EXPORT const gpi_plugin *gpi_plugin_entry(void) {
    static const gpi_plugin info = {sizeof(gpi_plugin), 2, 0, init};
    return &info;
}
