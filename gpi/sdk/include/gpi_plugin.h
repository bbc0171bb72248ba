/*
 * gpi_plugin.h -- the C ABI of GPI Sandbox native plugins (one C99 header).
 *
 * A native plugin is a shared library that exports ONE symbol,
 * `gpi_plugin_entry` (see GPI_PLUGIN_DEFINE at the end). The host calls it
 * once, checks the ABI version the plugin was built with, then calls the
 * plugin's `init` with a table of host functions. `init` declares the
 * plugin's components and systems through that table, exactly as a Python
 * plugin declares them with `Plugin.component` / `@plugin.system`; the host
 * checks the declarations the same way. Every tick the host calls each
 * system's function with an opaque context; the system reads the world
 * through read-only column pointers (the sealed shared-memory mappings: no
 * copy) and answers through the host functions (column writes from buffers
 * in the output arena, spawn, despawn, resources, events, log). The host
 * turns those calls into the same command list a Python system produces and
 * validates, schedules, records and supervises it the same way.
 *
 * Conventions used on every declaration below:
 *   who:     who may call it (the host, or the plugin, and in which phase:
 *            "init" = inside gpi_plugin.init, "system" = inside a system
 *            function, "any" = either).
 *   thread:  GPI calls a plugin from ONE thread of its child process (the
 *            child's main thread); host functions must be called from the
 *            thread that is running the call they belong to. A plugin must
 *            not start threads of its own (results would depend on timing;
 *            new processes are refused by the sandbox outright).
 *   since:   the ABI minor version that introduced it (major 1).
 *   Pointers the host hands out are valid until the call that received them
 *   returns, unless stated otherwise; the host never frees plugin memory and
 *   the plugin never frees host memory. Strings are NUL-terminated UTF-8.
 *
 * Versioning (docs/abi.md is the reference):
 *   - GPI_ABI_MAJOR changes only when an existing layout or meaning changes.
 *     A host refuses a plugin of another major, naming both versions.
 *   - GPI_ABI_MINOR grows when something is APPENDED: a function at the end
 *     of gpi_host, a field at the end of a size-prefixed struct, a new
 *     feature id. A plugin built against minor m loads in every host of the
 *     same major with minor >= m. A host refuses a plugin of a newer minor.
 *   - Every struct starts with `struct_size` (sizeof as the writer compiled
 *     it): a reader never reads past it. GPI_HAS(ptr, type, field) tests it.
 *   - Define GPI_TARGET_MINOR before including this header to build against
 *     an older minor: fields and functions newer than it are hidden and the
 *     plugin announces that minor, so it loads in older hosts too.
 *
 * WebAssembly (a loader on the same contract): nothing in this header
 * requires a host pointer to be meaningful in the plugin's address space
 * except the data pointers a function returns, which the wasm loader points
 * into the module's linear memory (copying columns in, buffers out). Handles
 * (gpi_component, gpi_query, gpi_buffer) are plain 32-bit integers.
 */
#ifndef GPI_PLUGIN_H
#define GPI_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI this header describes. since: 1.0 */
#define GPI_ABI_MAJOR 1
#define GPI_ABI_MINOR 1

/* The minor this plugin is built against (default: this header's). since: 1.0 */
#ifndef GPI_TARGET_MINOR
#define GPI_TARGET_MINOR GPI_ABI_MINOR
#endif

/* Symbol visibility for the one exported entry point. since: 1.0 */
#if defined(_WIN32)
#define GPI_EXPORT __declspec(dllexport)
#elif defined(__GNUC__) || defined(__clang__)
#define GPI_EXPORT __attribute__((visibility("default")))
#else
#define GPI_EXPORT
#endif

/* True when the struct at `ptr` (whose first field is struct_size) holds `field`. since: 1.0 */
#define GPI_HAS(ptr, type, field) \
    ((ptr) != NULL && (ptr)->struct_size >= offsetof(type, field) + sizeof(((type *)0)->field))

/* Return codes of host functions: >= 0 success, < 0 failure (see gpi_host.last_error). since: 1.0 */
#define GPI_OK 0
#define GPI_E_INVALID (-1)    /* a bad argument: unknown handle, NULL where data is needed, bad size */
#define GPI_E_DENIED (-2)     /* not declared, or the capability was not granted */
#define GPI_E_NOSPACE (-3)    /* the output arena or the draw-list buffer is full */
#define GPI_E_STATE (-4)      /* called in the wrong phase (e.g. a declaration from a system) */

/* Opaque handles. 0 is never a valid handle. since: 1.0 */
typedef uint32_t gpi_component; /* a component known by name (declared, or referenced) */
typedef uint32_t gpi_query;     /* a query made in the current system call */
typedef uint32_t gpi_buffer;    /* an output buffer made in the current system call */

/* Entity ids: 64-bit, index and generation; a despawned id is never valid again. since: 1.0 */
typedef uint64_t gpi_entity;

/* Opaque host objects; only pointers to them cross the ABI. since: 1.0 */
typedef struct gpi_decl gpi_decl; /* the declaration being built; valid during init only */
typedef struct gpi_ctx gpi_ctx;   /* one system call; valid during that call only */

/* Scalar types of component elements (numpy dtype in brackets). since: 1.0 */
typedef enum gpi_scalar {
    GPI_F32 = 1,  /* float32 */
    GPI_F64 = 2,  /* float64 */
    GPI_I8 = 3,   /* int8 */
    GPI_I16 = 4,  /* int16 */
    GPI_I32 = 5,  /* int32 */
    GPI_I64 = 6,  /* int64 */
    GPI_U8 = 7,   /* uint8 */
    GPI_U16 = 8,  /* uint16 */
    GPI_U32 = 9,  /* uint32 */
    GPI_U64 = 10, /* uint64 */
    GPI_BOOL = 11 /* bool (one byte, 0 or 1) */
} gpi_scalar;

/* Log levels for gpi_host.log. since: 1.0 */
enum { GPI_LOG_DEBUG = 0, GPI_LOG_INFO = 1, GPI_LOG_WARNING = 2, GPI_LOG_ERROR = 3 };

/* gpi_system_desc.flags. since: 1.0 */
#define GPI_SPAWNS 1u   /* the system may spawn entities (capability "spawn") */
#define GPI_DESPAWNS 2u /* the system may despawn entities (capability "despawn") */

/*
 * A system function: called once per tick (in its stage, in schedule order)
 * with the call's context and the `user` pointer of its declaration.
 * Return 0 on success; any other value makes the call fail like a Python
 * exception (its commands are dropped, the error is logged and recorded).
 * who: host. thread: the child's main thread. since: 1.0
 */
typedef int (*gpi_system_fn)(gpi_ctx *ctx, void *user);

/*
 * A system's declaration, passed to gpi_host.system during init. The name
 * lists are NULL-terminated arrays of component / resource / event / system
 * names (NULL for an empty list); before/after name systems as "plugin.system"
 * or "system" of this plugin. The host copies everything it needs before
 * gpi_host.system returns. since: 1.0
 */
typedef struct gpi_system_desc {
    uint32_t struct_size;            /* sizeof(gpi_system_desc) */
    uint32_t flags;                  /* GPI_SPAWNS | GPI_DESPAWNS */
    const char *name;                /* an identifier, unique in the plugin */
    const char *stage;               /* "input", "update", "post_update" or "render"; NULL: "update" */
    const char *const *reads;        /* components it reads */
    const char *const *writes;       /* components it writes (readable too) */
    const char *const *resources;    /* resources it reads or sets (capability "resources") */
    const char *const *events;       /* events it reads or sends (capability "events") */
    const char *const *before;       /* systems it must run before */
    const char *const *after;        /* systems it must run after */
    gpi_system_fn fn;                /* the function; must not be NULL */
    void *user;                      /* passed back to fn untouched */
} gpi_system_desc;

/*
 * The host function table. Size-prefixed and append-only: new functions go
 * at the end with a higher minor, nothing is ever removed or reordered. The
 * table stays valid (same address) until the library is unloaded, so a
 * plugin may keep the pointer init receives. Test a function newer than your
 * GPI_TARGET_MINOR with GPI_HAS(host, gpi_host, fn) before calling it.
 */
typedef struct gpi_host {
    uint32_t struct_size; /* sizeof(gpi_host) as the host built it. since: 1.0 */
    uint16_t abi_major;   /* the host's GPI_ABI_MAJOR. since: 1.0 */
    uint16_t abi_minor;   /* the host's GPI_ABI_MINOR. since: 1.0 */

    /* -- any phase --------------------------------------------------------- */

    /* An optional feature by string id (e.g. "gpi.draw.v1"), or NULL when the
     * host lacks it or the plugin was not granted the capability it needs:
     * this is how capabilities are negotiated. The pointer stays valid while
     * the library is loaded. who: plugin, any. since: 1.0 */
    const void *(*get_feature)(const struct gpi_host *host, const char *id);

    /* The message of the last failed host call of this phase ("" if none);
     * valid until the next host call. who: plugin, any. since: 1.0 */
    const char *(*last_error)(const struct gpi_host *host);

    /* -- declarations (init only) ------------------------------------------ */

    /* Declare component `name` with elements of `ndim` dimensions `shape`
     * (ndim 0: a scalar per entity) of `type`; declaring the same schema as
     * another plugin is fine, a different one fails at load. Returns its
     * handle, 0 on failure. who: plugin, init. since: 1.0 */
    gpi_component (*component)(gpi_decl *decl, const char *name, gpi_scalar type, uint32_t ndim,
                               const uint32_t *shape);

    /* A handle for a component declared elsewhere (or nowhere): usable in
     * queries and filters; reading it needs it in reads/writes like any other.
     * who: plugin, init. since: 1.0 */
    gpi_component (*component_ref)(gpi_decl *decl, const char *name);

    /* Declare a system (checked as Python declarations are). GPI_OK or < 0.
     * who: plugin, init. since: 1.0 */
    int (*system)(gpi_decl *decl, const gpi_system_desc *desc);

    /* -- a system call ------------------------------------------------------ */

    /* The tick being simulated. who: plugin, system. since: 1.0 */
    uint64_t (*tick)(gpi_ctx *ctx);

    /* The fixed time step in seconds (the same every call). who: plugin, system. since: 1.0 */
    double (*dt)(gpi_ctx *ctx);

    /* This call's 64-bit seed, from (world seed, tick, plugin, system): the
     * same in every process and run. Feed it to gpi_rng_seed. The only
     * randomness a system may use. who: plugin, system. since: 1.0 */
    uint64_t (*rng_seed)(gpi_ctx *ctx);

    /* Query the entities having all `n` components `comps` and none of the
     * `nwithout` components `without` (either array may be NULL when its count
     * is 0). Each of `comps` must be in the system's reads or writes.
     * `*nchunks` receives the number of chunks (one per archetype table, in
     * the world's defined order). Returns the query handle, 0 on failure.
     * who: plugin, system. since: 1.0 */
    gpi_query (*query)(gpi_ctx *ctx, const gpi_component *comps, uint32_t n,
                       const gpi_component *without, uint32_t nwithout, uint32_t *nchunks);

    /* Rows (entities) in chunk `chunk` of query `q`. who: plugin, system. since: 1.0 */
    uint64_t (*chunk_rows)(gpi_ctx *ctx, gpi_query q, uint32_t chunk);

    /* The read-only column of `comps[slot]` of that chunk: rows * element
     * size bytes, elements packed C-contiguous (a float32[2] column is
     * x0 y0 x1 y1 ...). It maps the world's sealed shared memory: a write
     * through it faults (SIGSEGV) and kills the child. NULL on failure.
     * who: plugin, system. since: 1.0 */
    const void *(*chunk_column)(gpi_ctx *ctx, gpi_query q, uint32_t chunk, uint32_t slot);

    /* The chunk's entity ids (rows of them), read-only. who: plugin, system. since: 1.0 */
    const gpi_entity *(*chunk_entities)(gpi_ctx *ctx, gpi_query q, uint32_t chunk);

    /* A writable, uninitialised buffer for `rows` values of component `c`,
     * in the child's output arena (so a column of a million rows reaches the
     * host with no copy on this side). `*buf` receives its handle; returns
     * its address (NULL when the arena is full). Valid for this call only.
     * who: plugin, system. since: 1.0 */
    void *(*output)(gpi_ctx *ctx, gpi_component c, uint64_t rows, gpi_buffer *buf);

    /* Replace the whole column `comps[slot]` of chunk `chunk` of query `q`
     * with buffer `buf` (made by output() for that component with the chunk's
     * row count). Queued, applied after the wave; the component must be in
     * the system's writes or the host rejects the whole command list.
     * who: plugin, system. since: 1.0 */
    int (*set_column)(gpi_ctx *ctx, gpi_query q, uint32_t chunk, uint32_t slot, gpi_buffer buf);

    /* Queue `count` new entities; component `comps[i]` takes its values from
     * buffer `bufs[i]` (output() with `count` rows). Needs GPI_SPAWNS and
     * capability "spawn". who: plugin, system. since: 1.0 */
    int (*spawn)(gpi_ctx *ctx, uint64_t count, uint32_t n, const gpi_component *comps,
                 const gpi_buffer *bufs);

    /* Queue despawning `count` entities `ids` (copied before returning).
     * Needs GPI_DESPAWNS and capability "despawn". who: plugin, system. since: 1.0 */
    int (*despawn)(gpi_ctx *ctx, uint64_t count, const gpi_entity *ids);

    /* Copy resource `name` as JSON text (NUL-terminated) into `out` of `cap`
     * bytes; returns the length it needs without the NUL (call again with a
     * bigger buffer when it is >= cap), < 0 on failure ("null" when absent).
     * The resource must be declared. who: plugin, system. since: 1.0 */
    int64_t (*resource_json)(gpi_ctx *ctx, const char *name, char *out, uint64_t cap);

    /* Queue setting resource `name` to the JSON value `json`.
     * who: plugin, system. since: 1.0 */
    int (*set_resource_json)(gpi_ctx *ctx, const char *name, const char *json);

    /* Copy this tick's events of kind `name` as a JSON array; like resource_json.
     * who: plugin, system. since: 1.0 */
    int64_t (*events_json)(gpi_ctx *ctx, const char *name, char *out, uint64_t cap);

    /* Queue event `name` with the JSON payload `json` for later systems.
     * who: plugin, system. since: 1.0 */
    int (*send_event_json)(gpi_ctx *ctx, const char *name, const char *json);

    /* A line for the host's log (at most 100 per call; more are counted).
     * who: plugin, system. since: 1.0 */
    void (*log)(gpi_ctx *ctx, int level, const char *message);

#if GPI_TARGET_MINOR >= 1
    /* -- appended in minor 1 ------------------------------------------------ */

    /* How many entities are alive. who: plugin, system. since: 1.1 */
    uint64_t (*entity_count)(gpi_ctx *ctx);

    /* 1 if `id` is a live entity, 0 if not. who: plugin, system. since: 1.1 */
    int (*is_alive)(gpi_ctx *ctx, gpi_entity id);
#endif
} gpi_host;

/*
 * Feature "gpi.draw.v1" (capability "draw"): draw calls that write the
 * child's draw-list buffer directly, in the format the renderer reads
 * (docs/rendering.md): the host's kernels turn the arrays you pass (column
 * pointers straight from chunk_column work: no copy) into triangles in the
 * shared draw-list segment. `*_count` is n (one value per shape) or 1 (one
 * value for all); `color` is RGBA bytes; `motion` (may be NULL) is how far
 * each shape moved this tick, n float32 pairs, for render interpolation.
 * Each returns the shapes kept after culling, or < 0. All: who: plugin,
 * system (render stage, usually). since: 1.0
 */
#define GPI_FEATURE_DRAW "gpi.draw.v1"
typedef struct gpi_draw_api {
    uint32_t struct_size; /* sizeof(gpi_draw_api). since: 1.0 */
    /* Quads centred on pos[n][2], of size[size_count][2]. since: 1.0 */
    int64_t (*quads)(gpi_ctx *ctx, uint64_t n, const float *pos, const float *size, uint64_t size_count,
                     const uint8_t *color, uint64_t color_count, int32_t layer, const float *motion);
    /* Circles centred on pos[n][2], of radius[radius_count]. since: 1.0 */
    int64_t (*circles)(gpi_ctx *ctx, uint64_t n, const float *pos, const float *radius, uint64_t radius_count,
                       const uint8_t *color, uint64_t color_count, int32_t layer, const float *motion);
    /* Segments from pos[n][2] to pos + end[n][2], width[width_count] thick. since: 1.0 */
    int64_t (*lines)(gpi_ctx *ctx, uint64_t n, const float *pos, const float *end, const float *width,
                     uint64_t width_count, const uint8_t *color, uint64_t color_count, int32_t layer,
                     const float *motion);
    /* `text` in the built-in font, top-left at (x, y), `scale` units per font pixel. since: 1.0 */
    int (*text)(gpi_ctx *ctx, float x, float y, const char *text, const uint8_t color[4], float scale,
                int32_t layer);
} gpi_draw_api;

/*
 * Feature "gpi.input.v1" (capability "input"): this tick's input state.
 * since: 1.0
 */
#define GPI_FEATURE_INPUT "gpi.input.v1"
typedef struct gpi_input_api {
    uint32_t struct_size; /* sizeof(gpi_input_api). since: 1.0 */
    /* The input state (keys, mouse, axes) as a JSON object; like resource_json. since: 1.0 */
    int64_t (*state_json)(gpi_ctx *ctx, char *out, uint64_t cap);
} gpi_input_api;

/*
 * What gpi_plugin_entry returns: the plugin's ABI version and its init.
 * Static storage: the host reads it, never writes or frees it. since: 1.0
 */
typedef struct gpi_plugin {
    uint32_t struct_size; /* sizeof(gpi_plugin) as the plugin built it */
    uint16_t abi_major;   /* GPI_ABI_MAJOR the plugin was built with */
    uint16_t abi_minor;   /* GPI_TARGET_MINOR the plugin was built with */
    /* Declare components and systems; 0 on success. Called once, before any
     * system. who: host. since: 1.0 */
    int (*init)(const gpi_host *host, gpi_decl *decl);
} gpi_plugin;

/* The exported entry symbol's type and name. since: 1.0 */
typedef const gpi_plugin *(*gpi_plugin_entry_fn)(void);
#define GPI_ENTRY_SYMBOL "gpi_plugin_entry"

/* Define the entry symbol of a plugin whose init function is `init_fn`. since: 1.0 */
#define GPI_PLUGIN_DEFINE(init_fn)                                                                \
    GPI_EXPORT const gpi_plugin *gpi_plugin_entry(void) {                                       \
        static const gpi_plugin gpi_plugin_info_ = {sizeof(gpi_plugin), GPI_ABI_MAJOR,           \
                                                    GPI_TARGET_MINOR, (init_fn)};                \
        return &gpi_plugin_info_;                                                                \
    }

/*
 * WebAssembly (wasm32): the gpi_host table is made of imports by name (module "gpi", one
 * function per field, docs/abi.md "WebAssembly"); GPI_PLUGIN_DEFINE then also exports
 * gpi_wasm_host (the address of that static table) and gpi_plugin_entry by name. Link with
 * -Wl,--no-entry -Wl,--export-table. since: 1.1
 */
#if defined(__wasm__)
#define GPI_WASM_IMPORT_(n) __attribute__((import_module("gpi"), import_name(#n)))
GPI_WASM_IMPORT_(get_feature) const void * gpi_wasm_get_feature(const struct gpi_host *host, const char *id);
GPI_WASM_IMPORT_(last_error) const char * gpi_wasm_last_error(const struct gpi_host *host);
GPI_WASM_IMPORT_(component) gpi_component gpi_wasm_component(gpi_decl *decl, const char *name, gpi_scalar type, uint32_t ndim, const uint32_t *shape);
GPI_WASM_IMPORT_(component_ref) gpi_component gpi_wasm_component_ref(gpi_decl *decl, const char *name);
GPI_WASM_IMPORT_(system) int gpi_wasm_system(gpi_decl *decl, const gpi_system_desc *desc);
GPI_WASM_IMPORT_(tick) uint64_t gpi_wasm_tick(gpi_ctx *ctx);
GPI_WASM_IMPORT_(dt) double gpi_wasm_dt(gpi_ctx *ctx);
GPI_WASM_IMPORT_(rng_seed) uint64_t gpi_wasm_rng_seed(gpi_ctx *ctx);
GPI_WASM_IMPORT_(query) gpi_query gpi_wasm_query(gpi_ctx *ctx, const gpi_component *comps, uint32_t n, const gpi_component *without, uint32_t nwithout, uint32_t *nchunks);
GPI_WASM_IMPORT_(chunk_rows) uint64_t gpi_wasm_chunk_rows(gpi_ctx *ctx, gpi_query q, uint32_t chunk);
GPI_WASM_IMPORT_(chunk_column) const void * gpi_wasm_chunk_column(gpi_ctx *ctx, gpi_query q, uint32_t chunk, uint32_t slot);
GPI_WASM_IMPORT_(chunk_entities) const gpi_entity * gpi_wasm_chunk_entities(gpi_ctx *ctx, gpi_query q, uint32_t chunk);
GPI_WASM_IMPORT_(output) void * gpi_wasm_output(gpi_ctx *ctx, gpi_component c, uint64_t rows, gpi_buffer *buf);
GPI_WASM_IMPORT_(set_column) int gpi_wasm_set_column(gpi_ctx *ctx, gpi_query q, uint32_t chunk, uint32_t slot, gpi_buffer buf);
GPI_WASM_IMPORT_(spawn) int gpi_wasm_spawn(gpi_ctx *ctx, uint64_t count, uint32_t n, const gpi_component *comps, const gpi_buffer *bufs);
GPI_WASM_IMPORT_(despawn) int gpi_wasm_despawn(gpi_ctx *ctx, uint64_t count, const gpi_entity *ids);
GPI_WASM_IMPORT_(resource_json) int64_t gpi_wasm_resource_json(gpi_ctx *ctx, const char *name, char *out, uint64_t cap);
GPI_WASM_IMPORT_(set_resource_json) int gpi_wasm_set_resource_json(gpi_ctx *ctx, const char *name, const char *json);
GPI_WASM_IMPORT_(events_json) int64_t gpi_wasm_events_json(gpi_ctx *ctx, const char *name, char *out, uint64_t cap);
GPI_WASM_IMPORT_(send_event_json) int gpi_wasm_send_event_json(gpi_ctx *ctx, const char *name, const char *json);
GPI_WASM_IMPORT_(log) void gpi_wasm_log(gpi_ctx *ctx, int level, const char *message);
#if GPI_TARGET_MINOR >= 1
GPI_WASM_IMPORT_(entity_count) uint64_t gpi_wasm_entity_count(gpi_ctx *ctx);
GPI_WASM_IMPORT_(is_alive) int gpi_wasm_is_alive(gpi_ctx *ctx, gpi_entity id);
#define GPI_WASM_MINOR1_ , gpi_wasm_entity_count, gpi_wasm_is_alive
#else
#define GPI_WASM_MINOR1_
#endif
#undef GPI_PLUGIN_DEFINE
#define GPI_PLUGIN_DEFINE(init_fn)                                                                \
    __attribute__((export_name("gpi_plugin_entry"))) const gpi_plugin *gpi_plugin_entry(void) { \
        static const gpi_plugin gpi_plugin_info_ = {sizeof(gpi_plugin), GPI_ABI_MAJOR,           \
                                                    GPI_TARGET_MINOR, (init_fn)};                \
        return &gpi_plugin_info_;                                                                \
    }                                                                                            \
    __attribute__((export_name("gpi_wasm_host"))) const gpi_host *gpi_wasm_host(void) {       \
        static const gpi_host gpi_wasm_host_ = {                                                 \
            sizeof(gpi_host), GPI_ABI_MAJOR, GPI_TARGET_MINOR,                                   \
            gpi_wasm_get_feature, gpi_wasm_last_error, gpi_wasm_component, gpi_wasm_component_ref, gpi_wasm_system, gpi_wasm_tick, gpi_wasm_dt, gpi_wasm_rng_seed, \
            gpi_wasm_query, gpi_wasm_chunk_rows, gpi_wasm_chunk_column, gpi_wasm_chunk_entities, gpi_wasm_output, gpi_wasm_set_column, \
            gpi_wasm_spawn, gpi_wasm_despawn, gpi_wasm_resource_json, gpi_wasm_set_resource_json, gpi_wasm_events_json, gpi_wasm_send_event_json, gpi_wasm_log \
            GPI_WASM_MINOR1_};                                                                   \
        return &gpi_wasm_host_;                                                                  \
    }
#endif /* __wasm__ */

/*
 * A small deterministic generator (SplitMix64) for systems: seed it with
 * host->rng_seed(ctx) at the start of each call. Header-only, so every build
 * of a plugin draws the same numbers. since: 1.0
 */
typedef struct gpi_rng {
    uint64_t state;
} gpi_rng;

/* Start a generator from a seed. since: 1.0 */
static inline void gpi_rng_seed(gpi_rng *rng, uint64_t seed) { rng->state = seed; }

/* The next 64 random bits. since: 1.0 */
static inline uint64_t gpi_rng_u64(gpi_rng *rng) {
    uint64_t z = (rng->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A float uniform in [0, 1) (24 random bits). since: 1.0 */
static inline float gpi_rng_f32(gpi_rng *rng) { return (float)(gpi_rng_u64(rng) >> 40) * (1.0f / 16777216.0f); }

#ifdef __cplusplus
}
#endif
#endif /* GPI_PLUGIN_H */
