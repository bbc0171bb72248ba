/* nat_hostile: on ticks >= resource "nat_at", does what resource "nat_mode" says, then
 * reports the outcome in resource "nat_result" ("refused <errno>" or "allowed").
 * Modes: "colwrite" (store through a read-only column pointer), "socket", "fork",
 * "exec", "filewrite", "segv", "abort", "loop" (spins forever). */
#define _GNU_SOURCE
#include <gpi_plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static const gpi_host *host;
static gpi_component POSITION, VELOCITY, SECRET;

static int report(gpi_ctx *ctx, int ok, int err) {
    char json[64];
    if (ok)
        snprintf(json, sizeof json, "\"allowed\"");
    else
        snprintf(json, sizeof json, "\"refused %d\"", err);
    return host->set_resource_json(ctx, "nat_result", json) == GPI_OK ? 0 : 1;
}

static int act(gpi_ctx *ctx, void *user) {
    (void)user;
    char buf[64] = {0};
    if (host->resource_json(ctx, "nat_at", buf, sizeof buf) < 0) return 1;
    long at = -1;
    if (sscanf(buf, "%ld", &at) != 1 || at < 0 || (long)host->tick(ctx) < at) return 0;
    char mode[64] = {0};
    if (host->resource_json(ctx, "nat_mode", mode, sizeof mode) < 0) return 1;
    if (strcmp(mode, "\"colwrite\"") == 0) {
        const gpi_component q[2] = {POSITION, VELOCITY};
        uint32_t chunks = 0;
        gpi_query query = host->query(ctx, q, 2, NULL, 0, &chunks);
        if (!query || !chunks) return 1;
        float *pos = (float *)host->chunk_column(ctx, query, 0, 0); /* casting away const ... */
        pos[0] = 12345.0f;                                           /* ... faults: read-only mapping */
        return report(ctx, 1, 0);
    }
    if (strcmp(mode, "\"socket\"") == 0) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        return report(ctx, fd >= 0, errno);
    }
    if (strcmp(mode, "\"fork\"") == 0) {
        pid_t pid = fork();
        if (pid == 0) _exit(0);
        if (pid > 0) waitpid(pid, NULL, 0);
        return report(ctx, pid >= 0, errno);
    }
    if (strcmp(mode, "\"exec\"") == 0) {
        char *const argv[] = {"/bin/true", NULL};
        char *const envp[] = {NULL};
        execve("/bin/true", argv, envp); /* returns only when refused */
        return report(ctx, 0, errno);
    }
    if (strcmp(mode, "\"filewrite\"") == 0) {
        int fd = open("/tmp/gpi_native_hostile_write", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) close(fd);
        return report(ctx, fd >= 0, errno);
    }
    if (strcmp(mode, "\"undeclared\"") == 0) { /* each refused: the call fails, the codes are logged */
        uint32_t chunks = 0;
        char line[160];
        gpi_query q = host->query(ctx, &SECRET, 1, NULL, 0, &chunks);
        snprintf(line, sizeof line, "query=%u error=%s", q, host->last_error(host));
        host->log(ctx, GPI_LOG_WARNING, line);
        gpi_buffer b = 0;
        host->output(ctx, POSITION, 1, &b);
        int rc = host->spawn(ctx, 1, 1, &POSITION, &b);
        snprintf(line, sizeof line, "spawn rc=%d", rc);
        host->log(ctx, GPI_LOG_WARNING, line);
        snprintf(line, sizeof line, "set_column rc=%d", host->set_column(ctx, 99, 0, 0, b));
        host->log(ctx, GPI_LOG_WARNING, line);
        return 0;
    }
    if (strcmp(mode, "\"segv\"") == 0) {
        volatile int *p = NULL;
        *p = 1;
    }
    if (strcmp(mode, "\"abort\"") == 0) abort();
    if (strcmp(mode, "\"loop\"") == 0) {
        volatile unsigned long spin = 0;
        for (;;) spin++;
    }
    return 0;
}

static int init(const gpi_host *h, gpi_decl *decl) {
    host = h;
    const uint32_t two[1] = {2};
    POSITION = h->component(decl, "Position", GPI_F32, 1, two);
    VELOCITY = h->component(decl, "Velocity", GPI_F32, 1, two);
    SECRET = h->component_ref(decl, "Secret");
    static const char *const reads[] = {"Position", "Velocity", NULL};
    static const char *const res[] = {"nat_at", "nat_mode", "nat_result", NULL};
    gpi_system_desc s = {sizeof(gpi_system_desc)};
    s.name = "act";
    s.reads = reads;
    s.resources = res;
    s.fn = act;
    return h->system(decl, &s);
}

GPI_PLUGIN_DEFINE(init)
