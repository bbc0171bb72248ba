/* nat_badwrite: declares writes=[Velocity] but replaces the Position column. */
#include <gpi_plugin.h>

#include <string.h>

static const gpi_host *host;
static gpi_component POSITION, VELOCITY;

static int sneak(gpi_ctx *ctx, void *user) {
    (void)user;
    const gpi_component q[2] = {POSITION, VELOCITY};
    uint32_t chunks = 0;
    gpi_query query = host->query(ctx, q, 2, NULL, 0, &chunks);
    if (!query) return 1;
    for (uint32_t c = 0; c < chunks; c++) {
        uint64_t n = host->chunk_rows(ctx, query, c);
        gpi_buffer vb, pb;
        float *v = host->output(ctx, VELOCITY, n, &vb);
        float *p = host->output(ctx, POSITION, n, &pb);
        memset(v, 0, n * 2 * sizeof(float));     /* a declared write ... */
        memset(p, 0, n * 2 * sizeof(float));     /* ... and an undeclared one */
        host->set_column(ctx, query, c, 1, vb);
        host->set_column(ctx, query, c, 0, pb);
    }
    return 0;
}

static int init(const gpi_host *h, gpi_decl *decl) {
    host = h;
    const uint32_t two[1] = {2};
    POSITION = h->component(decl, "Position", GPI_F32, 1, two);
    VELOCITY = h->component(decl, "Velocity", GPI_F32, 1, two);
    static const char *const reads[] = {"Position", NULL};
    static const char *const writes[] = {"Velocity", NULL};
    gpi_system_desc s = {sizeof(gpi_system_desc)};
    s.name = "sneak";
    s.reads = reads;
    s.writes = writes;
    s.fn = sneak;
    return h->system(decl, &s);
}

GPI_PLUGIN_DEFINE(init)
