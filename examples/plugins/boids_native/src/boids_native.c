/* boids_native: the demo's flocking (examples/plugins/boids) in C.
 *
 * Same behaviour class as the Python plugin: every boid steers toward the
 * centre of the boids in its grid cell (cohesion), toward their mean heading
 * (alignment), away from a crowded centre (separation), plus a little uniform
 * noise from the call's deterministic generator; speeds are clamped into
 * [MIN_SPEED, MAX_SPEED]. Two passes over the boids per chunk, no allocation
 * after the first tick. The noise has the Python plugin's distribution but
 * another random stream (SplitMix64), so flocks diverge in detail, not in kind.
 */
#include <gpi_plugin.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CELL 5.0f
#define GRID 20 /* 100 / CELL */
#define COHESION 0.8f
#define ALIGNMENT 0.5f
#define SEPARATION 2.0f
#define NOISE 0.5f
#define MIN_SPEED 2.0f
#define MAX_SPEED 20.0f

static const gpi_host *host;
static gpi_component POSITION, VELOCITY, PLAYER;

/* Sums per cell: x, y, vx, vy, and the count. */
static float cell_sum[GRID * GRID][4];
static uint32_t cell_count[GRID * GRID];

static int cell_of(const float *p) {
    float fx = p[0] * (1.0f / CELL), fy = p[1] * (1.0f / CELL);
    int gx = fx >= 0.0f ? (int)fx : 0; /* also catches NaN */
    int gy = fy >= 0.0f ? (int)fy : 0;
    if (gx > GRID - 1) gx = GRID - 1;
    if (gy > GRID - 1) gy = GRID - 1;
    return gx * GRID + gy;
}

/* Each boid's cell, kept from the first pass for the second (grown as needed). */
static uint16_t *cells;
static uint64_t cells_cap;

static int steer_chunk(uint64_t n, const float *pos, const float *vel, float *out, float dt, gpi_rng *rng) {
    if (n > cells_cap) {
        uint16_t *grown = realloc(cells, (size_t)n * sizeof *cells);
        if (!grown) return 1;
        cells = grown;
        cells_cap = n;
    }
    memset(cell_sum, 0, sizeof cell_sum);
    memset(cell_count, 0, sizeof cell_count);
    for (uint64_t i = 0; i < n; i++) {
        int c = cell_of(pos + 2 * i);
        cells[i] = (uint16_t)c;
        cell_count[c]++;
        cell_sum[c][0] += pos[2 * i];
        cell_sum[c][1] += pos[2 * i + 1];
        cell_sum[c][2] += vel[2 * i];
        cell_sum[c][3] += vel[2 * i + 1];
    }
    for (int c = 0; c < GRID * GRID; c++) {
        if (cell_count[c] > 1) {
            float inv = 1.0f / (float)cell_count[c];
            for (int k = 0; k < 4; k++) cell_sum[c][k] *= inv;
        }
    }
    uint64_t bits = 0;
    for (uint64_t i = 0; i < n; i++) {
        const float *p = pos + 2 * i, *v = vel + 2 * i;
        const float *m = cell_sum[cells[i]];
        float tx = m[0] - p[0], ty = m[1] - p[1];
        float hx = m[2] - v[0], hy = m[3] - v[1];
        /* noise: two signed random bytes per boid, uniform in [-0.5, 0.5) in steps of 1/256
         * (the Python plugin's distribution); one 64-bit draw serves four boids */
        if ((i & 3) == 0) bits = gpi_rng_u64(rng);
        float nx = (float)(int8_t)(uint8_t)bits * (1.0f / 256.0f);
        float ny = (float)(int8_t)(uint8_t)(bits >> 8) * (1.0f / 256.0f);
        bits >>= 16;
        float ax = tx * COHESION + hx * ALIGNMENT + nx * NOISE;
        float ay = ty * COHESION + hy * ALIGNMENT + ny * NOISE;
        float d2 = tx * tx + ty * ty;
        if (d2 < 1.0f) {
            float push = -SEPARATION / fmaxf(sqrtf(d2), 1e-3f);
            ax += tx * push;
            ay += ty * push;
        }
        float vx = v[0] + ax * dt, vy = v[1] + ay * dt;
        float s2 = vx * vx + vy * vy;
        if (s2 < MIN_SPEED * MIN_SPEED || s2 > MAX_SPEED * MAX_SPEED) {
            float s = sqrtf(s2);
            float k = fminf(fmaxf(s, MIN_SPEED), MAX_SPEED) / fmaxf(s, 1e-6f);
            vx *= k;
            vy *= k;
        }
        out[2 * i] = vx;
        out[2 * i + 1] = vy;
    }
    return 0;
}

/* update: new Velocity for every boid without Player (runs before movement.integrate). */
static int steer(gpi_ctx *ctx, void *user) {
    (void)user;
    const gpi_component q[2] = {POSITION, VELOCITY};
    uint32_t chunks = 0;
    gpi_query query = host->query(ctx, q, 2, &PLAYER, 1, &chunks);
    if (!query) return 1;
    float dt = (float)host->dt(ctx);
    gpi_rng rng;
    gpi_rng_seed(&rng, host->rng_seed(ctx));
    for (uint32_t c = 0; c < chunks; c++) {
        uint64_t n = host->chunk_rows(ctx, query, c);
        const float *pos = host->chunk_column(ctx, query, c, 0);
        const float *vel = host->chunk_column(ctx, query, c, 1);
        gpi_buffer buf;
        float *out = host->output(ctx, VELOCITY, n, &buf);
        if (n && (!pos || !vel || !out)) return 1;
        if (steer_chunk(n, pos, vel, out, dt, &rng) != 0) return 1;
        if (host->set_column(ctx, query, c, 1, buf) != GPI_OK) return 1;
    }
    return 0;
}

/* render: one small quad per boid, straight from the Position column (no copy). */
static const gpi_draw_api *draw_api;
static float *motion;
static uint64_t motion_cap;

static int draw(gpi_ctx *ctx, void *user) {
    (void)user;
    if (!draw_api) return 0; /* capability "draw" not granted: nothing to do */
    const gpi_component q[2] = {POSITION, VELOCITY};
    uint32_t chunks = 0;
    gpi_query query = host->query(ctx, q, 2, &PLAYER, 1, &chunks);
    if (!query) return 1;
    float dt = (float)host->dt(ctx);
    static const float size[2] = {0.6f, 0.6f};
    static const uint8_t color[4] = {255, 170, 90, 255};
    for (uint32_t c = 0; c < chunks; c++) {
        uint64_t n = host->chunk_rows(ctx, query, c);
        const float *pos = host->chunk_column(ctx, query, c, 0);
        const float *vel = host->chunk_column(ctx, query, c, 1);
        if (n > motion_cap) {
            float *grown = realloc(motion, (size_t)n * 2 * sizeof(float));
            if (!grown) return 1;
            motion = grown;
            motion_cap = n;
        }
        for (uint64_t i = 0; i < 2 * n; i++) motion[i] = vel[i] * dt;
        if (draw_api->quads(ctx, n, pos, size, 1, color, 1, 0, motion) < 0) return 1;
    }
    return 0;
}

static int init(const gpi_host *h, gpi_decl *decl) {
    host = h;
    const uint32_t two[1] = {2};
    POSITION = h->component(decl, "Position", GPI_F32, 1, two);
    VELOCITY = h->component(decl, "Velocity", GPI_F32, 1, two);
    PLAYER = h->component_ref(decl, "Player");
    draw_api = h->get_feature(h, GPI_FEATURE_DRAW);

    static const char *const steer_reads[] = {"Position", NULL};
    static const char *const steer_writes[] = {"Velocity", NULL};
    static const char *const steer_before[] = {"movement.integrate", NULL};
    gpi_system_desc s = {sizeof(gpi_system_desc)};
    s.name = "steer";
    s.stage = "update";
    s.reads = steer_reads;
    s.writes = steer_writes;
    s.before = steer_before;
    s.fn = steer;
    if (h->system(decl, &s) != GPI_OK) return 1;

    static const char *const draw_reads[] = {"Position", "Velocity", NULL};
    gpi_system_desc d = {sizeof(gpi_system_desc)};
    d.name = "draw";
    d.stage = "render";
    d.reads = draw_reads;
    d.fn = draw;
    return h->system(decl, &d) == GPI_OK ? 0 : 1;
}

GPI_PLUGIN_DEFINE(init)
