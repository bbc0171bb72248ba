/* movement_native: the demo's physics step (examples/plugins/movement) in C.
 *
 * Position += Velocity * dt, wrapped into the arena [0, 100) x [0, 100),
 * computed straight into a buffer of the output arena and handed to the host
 * as the chunk's new Position column: the only copy on the way is the host's
 * one copy into the table.
 */
#include <gpi_plugin.h>

#define ARENA 100.0f

static const gpi_host *host;
static gpi_component POSITION, VELOCITY;

static int integrate(gpi_ctx *ctx, void *user) {
    (void)user;
    const gpi_component q[2] = {POSITION, VELOCITY};
    uint32_t chunks = 0;
    gpi_query query = host->query(ctx, q, 2, NULL, 0, &chunks);
    if (!query) return 1;
    const float dt = (float)host->dt(ctx);
    for (uint32_t c = 0; c < chunks; c++) {
        uint64_t n = 2 * host->chunk_rows(ctx, query, c);
        const float *restrict pos = host->chunk_column(ctx, query, c, 0);
        const float *restrict vel = host->chunk_column(ctx, query, c, 1);
        gpi_buffer buf;
        float *restrict out = host->output(ctx, POSITION, n / 2, &buf);
        if (n && (!pos || !vel || !out)) return 1;
        for (uint64_t i = 0; i < n; i++) {
            float p = pos[i] + vel[i] * dt;
            p -= ARENA * (float)(p >= ARENA); /* branch-free: the loop vectorises */
            out[i] = p + ARENA * (float)(p < 0.0f);
        }
        if (host->set_column(ctx, query, c, 0, buf) != GPI_OK) return 1;
    }
    return 0;
}

static int init(const gpi_host *h, gpi_decl *decl) {
    host = h;
    const uint32_t two[1] = {2};
    POSITION = h->component(decl, "Position", GPI_F32, 1, two);
    VELOCITY = h->component(decl, "Velocity", GPI_F32, 1, two);
    static const char *const reads[] = {"Velocity", NULL};
    static const char *const writes[] = {"Position", NULL};
    gpi_system_desc s = {sizeof(gpi_system_desc)};
    s.name = "integrate";
    s.reads = reads;
    s.writes = writes;
    s.fn = integrate;
    return h->system(decl, &s) == GPI_OK ? 0 : 1;
}

GPI_PLUGIN_DEFINE(init)
