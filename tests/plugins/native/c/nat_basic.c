/* nat_basic: spawn (tick 0), move, count (resource + event), log and draw. */
#include <gpi_plugin.h>

#include <stdio.h>

#ifndef NAT_NAME
#define NAT_NAME "nat_basic"
#endif
#ifndef NAT_SPEED /* velocity multiplier: a second build with another value tests hot-swap */
#define NAT_SPEED 1.0f
#endif

static const gpi_host *host;
static gpi_component POSITION, VELOCITY, SERIAL;

static int spawn(gpi_ctx *ctx, void *user) {
    (void)user;
    if (host->tick(ctx) != 0) return 0;
    const uint64_t n = 50;
    gpi_buffer b[3];
    float *pos = host->output(ctx, POSITION, n, &b[0]);
    float *vel = host->output(ctx, VELOCITY, n, &b[1]);
    uint32_t *serial = host->output(ctx, SERIAL, n, &b[2]);
    if (!pos || !vel || !serial) return 1;
    gpi_rng rng;
    gpi_rng_seed(&rng, host->rng_seed(ctx));
    for (uint64_t i = 0; i < n; i++) {
        pos[2 * i] = gpi_rng_f32(&rng) * 100.0f;
        pos[2 * i + 1] = gpi_rng_f32(&rng) * 100.0f;
        vel[2 * i] = gpi_rng_f32(&rng) * 10.0f - 5.0f;
        vel[2 * i + 1] = gpi_rng_f32(&rng) * 10.0f - 5.0f;
        serial[i] = (uint32_t)i;
    }
    const gpi_component comps[3] = {POSITION, VELOCITY, SERIAL};
    return host->spawn(ctx, n, 3, comps, b) == GPI_OK ? 0 : 1;
}

static int move(gpi_ctx *ctx, void *user) {
    (void)user;
    const gpi_component q[2] = {POSITION, VELOCITY};
    uint32_t chunks = 0;
    gpi_query query = host->query(ctx, q, 2, NULL, 0, &chunks);
    if (!query) return 1;
    float dt = (float)host->dt(ctx);
    for (uint32_t c = 0; c < chunks; c++) {
        uint64_t n = host->chunk_rows(ctx, query, c);
        const float *pos = host->chunk_column(ctx, query, c, 0);
        const float *vel = host->chunk_column(ctx, query, c, 1);
        gpi_buffer buf;
        float *out = host->output(ctx, POSITION, n, &buf);
        for (uint64_t i = 0; i < 2 * n; i++) out[i] = pos[i] + vel[i] * (dt * NAT_SPEED);
        if (host->set_column(ctx, query, c, 0, buf) != GPI_OK) return 1;
    }
    return 0;
}

static int count(gpi_ctx *ctx, void *user) {
    (void)user;
    uint32_t chunks = 0;
    gpi_query query = host->query(ctx, &SERIAL, 1, NULL, 0, &chunks);
    if (!query) return 1;
    uint64_t n = 0, sum = 0;
    for (uint32_t c = 0; c < chunks; c++) {
        uint64_t rows = host->chunk_rows(ctx, query, c);
        const gpi_entity *ids = host->chunk_entities(ctx, query, c);
        const uint32_t *serial = host->chunk_column(ctx, query, c, 0);
        for (uint64_t i = 0; i < rows; i++) sum += serial[i] + (ids[i] != 0);
        n += rows;
    }
#if GPI_TARGET_MINOR >= 1
    if (host->entity_count(ctx) != n) return 2; /* a function of minor 1 */
#endif
    char prev[64];
    int64_t len = host->resource_json(ctx, "nat_ticks", prev, sizeof prev);
    if (len < 0 || len >= (int64_t)sizeof prev) return 3;
    long ticks = 0;
    sscanf(prev, "%ld", &ticks); /* "null" before the first set: stays 0 */
    char json[96];
    snprintf(json, sizeof json, "%ld", ticks + 1);
    if (host->set_resource_json(ctx, "nat_ticks", json) != GPI_OK) return 4;
    snprintf(json, sizeof json, "{\"n\": %llu, \"sum\": %llu}", (unsigned long long)n, (unsigned long long)sum);
    if (host->send_event_json(ctx, "nat_count", json) != GPI_OK) return 5;
    if (host->tick(ctx) == 1) host->log(ctx, GPI_LOG_INFO, NAT_NAME " counted entities");
    return 0;
}

static const gpi_draw_api *draw_api;

static int draw(gpi_ctx *ctx, void *user) {
    (void)user;
    if (!draw_api) return 6;
    uint32_t chunks = 0;
    gpi_query query = host->query(ctx, &POSITION, 1, NULL, 0, &chunks);
    static const float size[2] = {1.0f, 1.0f};
    static const uint8_t color[4] = {10, 20, 30, 255};
    for (uint32_t c = 0; c < chunks; c++) {
        uint64_t n = host->chunk_rows(ctx, query, c);
        if (draw_api->quads(ctx, n, host->chunk_column(ctx, query, c, 0), size, 1, color, 1, 2, NULL) < 0)
            return 7;
    }
    return 0;
}

static int init(const gpi_host *h, gpi_decl *decl) {
    host = h;
    const uint32_t two[1] = {2};
    POSITION = h->component(decl, "Position", GPI_F32, 1, two);
    VELOCITY = h->component(decl, "Velocity", GPI_F32, 1, two);
    SERIAL = h->component(decl, "Serial", GPI_U32, 0, NULL);
    draw_api = h->get_feature(h, GPI_FEATURE_DRAW);
    if (h->get_feature(h, "gpi.no.such.feature") != NULL) return 9;

    static const char *const spawn_writes[] = {"Position", "Velocity", "Serial", NULL};
    gpi_system_desc s = {sizeof(gpi_system_desc)};
    s.name = "spawn";
    s.flags = GPI_SPAWNS;
    s.writes = spawn_writes;
    s.fn = spawn;
    if (h->system(decl, &s) != GPI_OK) return 1;

    static const char *const move_reads[] = {"Velocity", NULL};
    static const char *const move_writes[] = {"Position", NULL};
    static const char *const move_after[] = {"spawn", NULL};
    gpi_system_desc m = {sizeof(gpi_system_desc)};
    m.name = "move";
    m.reads = move_reads;
    m.writes = move_writes;
    m.after = move_after;
    m.fn = move;
    if (h->system(decl, &m) != GPI_OK) return 1;

    static const char *const count_reads[] = {"Serial", NULL};
    static const char *const count_res[] = {"nat_ticks", NULL};
    static const char *const count_events[] = {"nat_count", NULL};
    gpi_system_desc c = {sizeof(gpi_system_desc)};
    c.name = "count";
    c.stage = "post_update";
    c.reads = count_reads;
    c.resources = count_res;
    c.events = count_events;
    c.fn = count;
    if (h->system(decl, &c) != GPI_OK) return 1;

    static const char *const draw_reads[] = {"Position", NULL};
    gpi_system_desc d = {sizeof(gpi_system_desc)};
    d.name = "draw";
    d.stage = "render";
    d.reads = draw_reads;
    d.fn = draw;
    return h->system(decl, &d) == GPI_OK ? 0 : 1;
}

GPI_PLUGIN_DEFINE(init)
