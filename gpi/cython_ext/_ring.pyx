# cython: boundscheck=False, wraparound=False, cdivision=True, language_level=3
"""SPSC byte-ring kernel: the whole push (copy + publish + wake) and pop (wait + copy) in one call.

Layout of a ring region (all little-endian, offsets in bytes from the region start)::

    0    u32 magic 'GPIR' | u32 layout version | u64 capacity      (written once by the creator)
    64   u64 head   consumer's read index   (own cache line, written only by the consumer)
    128  u64 tail   producer's write index  (own cache line, written only by the producer)
    192  u32 data_seq  | u32 data_waiters   (consumer sleeps on data_seq or a doorbell when empty)
    256  u32 space_seq | u32 space_waiters  (producer sleeps on space_seq when the ring is full)
    384  capacity bytes of frames (capacity a power of two, >= 64)

``head`` and ``tail`` are free-running 64-bit byte counts; ``index & (capacity-1)``
is the position in the data area. A frame is an 8-byte header ``u32 length |
u32 tag`` (tag = FRAME_MAGIC ^ (index >> 3), so stale bytes from an earlier lap
or garbage never pass as a frame) followed by ``length`` payload bytes, padded
to 8. A frame may straddle the end of the data area (split copy); the header
never does. The producer publishes ``tail`` with a release store only after the
whole frame is written, so a producer killed mid-frame leaves nothing visible.

Each endpoint keeps its own index locally (the peer may scribble over shared
memory) and only reads the other side's index, with acquire loads, validating
it before use. A waiter spins, then announces itself in its waiter word (1:
asleep on the futex seq word, 2: asleep in recv() on a doorbell socket), re-checks
and sleeps; a publisher makes the FUTEX_WAKE or doorbell send() syscall only when
that word is set. Doorbell (socket) wake-ups are "sync" for the scheduler, which
puts the woken peer on the waker's CPU: on a busy 2-core machine much faster
than a futex wake-up.

Functions return negative status codes instead of raising: the Python wrapper
(:mod:`gpi.shm.ring`) turns them into errors with context.
"""

from libc.stdint cimport int64_t, uint32_t, uint64_t
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE

cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    #include <time.h>
    #include <unistd.h>
    #include <poll.h>
    #include <sched.h>
    #include <errno.h>
    #include <sys/socket.h>
    #include <limits.h>
    #include <sys/syscall.h>
    #include <linux/futex.h>

    #define GPI_HDR 384
    #define GPI_OFF_HEAD 64
    #define GPI_OFF_TAIL 128
    #define GPI_OFF_DSEQ 192
    #define GPI_OFF_DWAIT 196
    #define GPI_OFF_SSEQ 256
    #define GPI_OFF_SWAIT 260
    #define GPI_RING_MAGIC 0x52495047u   /* 'GPIR' */
    #define GPI_FRAME_MAGIC 0x46495047u  /* 'GPIF' */
    #define GPI_SLICE_NS 20000000LL      /* re-check the peer every 20 ms while asleep */

    #define GPI_OK 0
    #define GPI_EMPTY -1
    #define GPI_TIMEOUT -2
    #define GPI_PEER_DIED -3
    #define GPI_E_INDEX -4
    #define GPI_E_MAGIC -5
    #define GPI_E_LENGTH -6
    #define GPI_E_TRUNC -7
    #define GPI_E_TOOBIG -8

    static inline uint64_t gpi_ld_acq(const char *p) {
        return __atomic_load_n((const uint64_t *)p, __ATOMIC_ACQUIRE);
    }
    static inline uint64_t gpi_ld_sc(const char *p) {
        return __atomic_load_n((const uint64_t *)p, __ATOMIC_SEQ_CST);
    }
    static inline void gpi_st_rel(char *p, uint64_t v) {
        __atomic_store_n((uint64_t *)p, v, __ATOMIC_RELEASE);
    }
    static inline uint32_t *gpi_u32(char *p) { return (uint32_t *)p; }

    static inline void gpi_relax(void) {
    #if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
    #elif defined(__aarch64__)
        __asm__ __volatile__("yield");
    #endif
    }

    static inline int64_t gpi_now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    }

    /* Sleep while *addr == val, at most ns. Returns 1 if the sleep ran out (or was
       interrupted), 0 if woken or the word had already changed. */
    static inline int gpi_futex_wait(uint32_t *addr, uint32_t val, int64_t ns) {
        struct timespec ts;
        ts.tv_sec = ns / 1000000000LL;
        ts.tv_nsec = ns % 1000000000LL;
        long r = syscall(SYS_futex, addr, FUTEX_WAIT, val, &ts, NULL, 0);
        return r != 0 && (errno == ETIMEDOUT || errno == EINTR);
    }

    static inline void gpi_futex_wake(uint32_t *addr) {
        syscall(SYS_futex, addr, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
    }

    /* After publishing: wake the peer if (and only if) it announced it sleeps. The
       waiter word says how it sleeps: 1 on the futex, 2 in poll() on a doorbell pipe.
       Returns 1 if a wake-up was sent. */
    static inline int gpi_notify(char *base, int seq_off, int wait_off, int bell) {
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        uint32_t w = __atomic_load_n(gpi_u32(base + wait_off), __ATOMIC_RELAXED);
        if (!w) return 0;
        if (w == 2 && bell >= 0) {
            char b = 1;
            /* never blocks (a full socket buffer already wakes), never raises SIGPIPE */
            ssize_t r = send(bell, &b, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
            (void)r;
        } else {
            __atomic_fetch_add(gpi_u32(base + seq_off), 1u, __ATOMIC_SEQ_CST);
            gpi_futex_wake(gpi_u32(base + seq_off));
        }
        return 1;
    }

    static inline void gpi_drain(int bell) {
        char buf[64];
        while (recv(bell, buf, sizeof buf, MSG_DONTWAIT) == (ssize_t)sizeof buf) {}
    }

    /* Unconditionally bump a seq word and wake its sleepers (used by reset). */
    static inline void gpi_kick(char *base, int seq_off) {
        __atomic_fetch_add(gpi_u32(base + seq_off), 1u, __ATOMIC_SEQ_CST);
        gpi_futex_wake(gpi_u32(base + seq_off));
    }

    static inline int gpi_peer_dead(int pidfd, long ppid) {
        if (pidfd >= 0) {
            struct pollfd p;
            p.fd = pidfd; p.events = POLLIN; p.revents = 0;
            if (poll(&p, 1, 0) > 0) return 1;
        }
        if (ppid > 0 && (long)getppid() != ppid) return 1;
        return 0;
    }

    /* Ready test for a waiter: data (mode 0) or space for `need` bytes (mode 1). */
    static inline int gpi_ready(char *base, int mode, uint64_t mine, uint64_t need, uint64_t cap) {
        if (mode == 0) return gpi_ld_sc(base + GPI_OFF_TAIL) != mine;
        uint64_t used = mine - gpi_ld_sc(base + GPI_OFF_HEAD);
        return used > cap || used + need <= cap;  /* corrupt counts as ready: caller reports it */
    }

    /* Spin for up to spin_ns, then yield the CPU for up to yield_ns (lets a peer that
       was woken onto this CPU run), then sleep on the futex in slices, checking the peer.
       Returns GPI_OK, GPI_TIMEOUT or GPI_PEER_DIED. timeout_ns < 0 waits forever. */
    static int gpi_wait(char *base, int mode, uint64_t mine, uint64_t need, uint64_t cap,
                        int64_t timeout_ns, int64_t spin_ns, int64_t yield_ns,
                        int pidfd, long ppid, int bell) {
        int seq_off = mode == 0 ? GPI_OFF_DSEQ : GPI_OFF_SSEQ;
        int wait_off = mode == 0 ? GPI_OFF_DWAIT : GPI_OFF_SWAIT;
        int64_t start = gpi_now_ns();
        int64_t deadline = timeout_ns < 0 ? INT64_MAX : start + timeout_ns;
        int64_t spin_end = start + spin_ns;
        unsigned i = 0;
        for (;;) {
            if (gpi_ready(base, mode, mine, need, cap)) return GPI_OK;
            gpi_relax();
            if ((++i & 31) == 0) {
                int64_t t = gpi_now_ns();
                if (t >= spin_end || t >= deadline) break;
            }
        }
        int64_t yield_end = spin_end + yield_ns;
        for (;;) {
            if (gpi_ready(base, mode, mine, need, cap)) return GPI_OK;
            int64_t t = gpi_now_ns();
            if (t >= yield_end || t >= deadline) break;
            sched_yield();
        }
        uint32_t *seq = gpi_u32(base + seq_off);
        uint32_t *waiters = gpi_u32(base + wait_off);
        if (mode != 0) bell = -1;  /* doorbells only carry 'data published' */
        /* The peer is checked (a syscall) only after a sleep ran out: a wake-up proves
           it alive, and the hot path stays one syscall per side. */
        int check_peer = 0;
        for (;;) {
            uint32_t s = __atomic_load_n(seq, __ATOMIC_SEQ_CST);
            __atomic_store_n(waiters, bell >= 0 ? 2u : 1u, __ATOMIC_SEQ_CST);
            if (gpi_ready(base, mode, mine, need, cap)) {
                __atomic_store_n(waiters, 0u, __ATOMIC_RELAXED);
                return GPI_OK;
            }
            if (check_peer && gpi_peer_dead(pidfd, ppid)) {
                __atomic_store_n(waiters, 0u, __ATOMIC_RELAXED);
                return gpi_ready(base, mode, mine, need, cap) ? GPI_OK : GPI_PEER_DIED;
            }
            int64_t t = gpi_now_ns();
            if (t >= deadline) {
                __atomic_store_n(waiters, 0u, __ATOMIC_RELAXED);
                return GPI_TIMEOUT;
            }
            int64_t slice = deadline - t;
            if (slice > GPI_SLICE_NS) slice = GPI_SLICE_NS;
            if (bell >= 0 && slice >= GPI_SLICE_NS) {
                /* One syscall sleeps and drains: a blocking recv on the doorbell socket,
                   whose SO_RCVTIMEO is one slice. EOF means every copy of the peer's
                   end is closed: the peer is gone. */
                char buf[64];
                ssize_t r = recv(bell, buf, sizeof buf, 0);
                if (r == 0) {
                    __atomic_store_n(waiters, 0u, __ATOMIC_RELAXED);
                    return gpi_ready(base, mode, mine, need, cap) ? GPI_OK : GPI_PEER_DIED;
                }
                check_peer = r < 0;
            } else if (bell >= 0) {
                /* the last partial slice before the deadline: poll() with the exact time */
                struct pollfd p[2];
                struct timespec ts;
                ts.tv_sec = slice / 1000000000LL;
                ts.tv_nsec = slice % 1000000000LL;
                p[0].fd = bell; p[0].events = POLLIN; p[0].revents = 0;
                p[1].fd = pidfd; p[1].events = POLLIN; p[1].revents = 0;
                int r = ppoll(p, pidfd >= 0 ? 2 : 1, &ts, NULL);
                if (r > 0 && (p[0].revents & POLLIN)) gpi_drain(bell);
                check_peer = r <= 0 || p[1].revents != 0 || (p[0].revents & POLLHUP);
            } else {
                check_peer = gpi_futex_wait(seq, s, slice);
            }
        }
    }

    /* Validate the frame at `head`. Returns its payload length, GPI_EMPTY or an error. */
    static inline int64_t gpi_peek(char *base, uint64_t head, uint64_t cap) {
        uint64_t tail = gpi_ld_acq(base + GPI_OFF_TAIL);
        if (tail == head) return GPI_EMPTY;
        uint64_t used = tail - head;
        if (used > cap || (used & 7)) return GPI_E_INDEX;
        if (used < 8) return GPI_E_TRUNC;
        const char *hdr = base + GPI_HDR + (head & (cap - 1));
        uint32_t len, tag;
        memcpy(&len, hdr, 4);
        memcpy(&tag, hdr + 4, 4);
        if (tag != (GPI_FRAME_MAGIC ^ (uint32_t)(head >> 3))) return GPI_E_MAGIC;
        if ((uint64_t)len + 8 > cap) return GPI_E_LENGTH;
        if ((((uint64_t)len + 7) & ~(uint64_t)7) + 8 > used) return GPI_E_TRUNC;
        return (int64_t)len;
    }

    /* Copy n bytes out of / into the data area at index, splitting at the end. */
    static inline void gpi_copy_out(char *dst, const char *base, uint64_t index, uint64_t n, uint64_t cap) {
        uint64_t pos = index & (cap - 1);
        uint64_t first = cap - pos;
        const char *data = base + GPI_HDR;
        if (n <= first) { memcpy(dst, data + pos, n); }
        else { memcpy(dst, data + pos, first); memcpy(dst + first, data, n - first); }
    }
    static inline void gpi_copy_in(char *base, uint64_t index, const char *src, uint64_t n, uint64_t cap) {
        uint64_t pos = index & (cap - 1);
        uint64_t first = cap - pos;
        char *data = base + GPI_HDR;
        if (n <= first) { memcpy(data + pos, src, n); }
        else { memcpy(data + pos, src, first); memcpy(data, src + first, n - first); }
    }

    /* Try to write one frame at `tail` whose payload is src1[:n1] + src2[:n2].
       Returns 1 pushed, 0 full, or an error. *woke tells whether the consumer had
       to be woken. */
    static inline int gpi_try_push2(char *base, uint64_t *tail, const char *src1, uint64_t n1,
                                    const char *src2, uint64_t n2, uint64_t cap, int bell,
                                    int *woke) {
        uint64_t n = n1 + n2;
        uint64_t need = ((n + 7) & ~(uint64_t)7) + 8;
        if (need > cap || n > 0xFFFFFFFFu) return GPI_E_TOOBIG;
        uint64_t t = *tail;
        uint64_t used = t - gpi_ld_acq(base + GPI_OFF_HEAD);
        if (used > cap) return GPI_E_INDEX;
        if (used + need > cap) return 0;
        uint32_t hdr[2];
        hdr[0] = (uint32_t)n;
        hdr[1] = GPI_FRAME_MAGIC ^ (uint32_t)(t >> 3);
        memcpy(base + GPI_HDR + (t & (cap - 1)), hdr, 8);
        gpi_copy_in(base, t + 8, src1, n1, cap);
        if (n2) gpi_copy_in(base, t + 8 + n1, src2, n2, cap);
        *tail = t + need;
        gpi_st_rel(base + GPI_OFF_TAIL, *tail);
        *woke = gpi_notify(base, GPI_OFF_DSEQ, GPI_OFF_DWAIT, bell);
        return 1;
    }

    static inline int gpi_try_push(char *base, uint64_t *tail, const char *src, uint64_t n,
                                   uint64_t cap, int bell, int *woke) {
        return gpi_try_push2(base, tail, src, n, NULL, 0, cap, bell, woke);
    }

    static inline void gpi_init(char *base, uint64_t cap) {
        uint32_t *h = (uint32_t *)base;
        memset(base, 0, GPI_HDR);
        h[1] = 1;
        memcpy(base + 8, &cap, 8);
        __atomic_store_n(&h[0], GPI_RING_MAGIC, __ATOMIC_RELEASE);
    }
    """
    int GPI_HDR, GPI_OFF_HEAD, GPI_OFF_TAIL, GPI_OFF_DSEQ, GPI_OFF_SSEQ
    int GPI_OFF_DWAIT, GPI_OFF_SWAIT, GPI_RING_MAGIC, GPI_FRAME_MAGIC
    int GPI_OK, GPI_EMPTY, GPI_TIMEOUT, GPI_PEER_DIED, GPI_E_INDEX, GPI_E_MAGIC
    int GPI_E_LENGTH, GPI_E_TRUNC, GPI_E_TOOBIG
    uint64_t gpi_ld_acq(const char *p) nogil
    void gpi_st_rel(char *p, uint64_t v) nogil
    int gpi_notify(char *base, int seq_off, int wait_off, int bell) nogil
    void gpi_kick(char *base, int seq_off) nogil
    int gpi_wait(char *base, int mode, uint64_t mine, uint64_t need, uint64_t cap,
                 int64_t timeout_ns, int64_t spin_ns, int64_t yield_ns, int pidfd, long ppid,
                 int bell) nogil
    int64_t gpi_peek(char *base, uint64_t head, uint64_t cap) nogil
    int64_t gpi_now_ns() nogil
    void gpi_copy_out(char *dst, const char *base, uint64_t index, uint64_t n, uint64_t cap) nogil
    int gpi_try_push(char *base, uint64_t *tail, const char *src, uint64_t n, uint64_t cap,
                     int bell, int *woke) nogil
    int gpi_try_push2(char *base, uint64_t *tail, const char *src1, uint64_t n1,
                      const char *src2, uint64_t n2, uint64_t cap, int bell, int *woke) nogil
    void gpi_init(char *base, uint64_t cap) nogil

HEADER_SIZE = GPI_HDR
RING_MAGIC = GPI_RING_MAGIC
FRAME_MAGIC = GPI_FRAME_MAGIC
OK = GPI_OK
EMPTY = GPI_EMPTY
TIMEOUT = GPI_TIMEOUT
PEER_DIED = GPI_PEER_DIED
E_INDEX = GPI_E_INDEX
E_MAGIC = GPI_E_MAGIC
E_LENGTH = GPI_E_LENGTH
E_TRUNC = GPI_E_TRUNC
E_TOOBIG = GPI_E_TOOBIG


cdef class RingCore:
    """One endpoint of an SPSC ring over a writable buffer (see the module docstring for the layout).

    ``bell_w``/``bell_r``: optional doorbell ends of a Unix socketpair. A consumer with
    ``bell_r`` (blocking, SO_RCVTIMEO = 20 ms) sleeps in recv() on it; a producer with
    ``bell_w`` sends one byte to wake such a consumer. Without them the futex is used.
    ``partner``: the endpoint this process pushes requests on; when that push had to
    wake the peer, the next wait here skips spinning (the peer must be scheduled
    first, so spinning would only hold the CPU it needs).
    """

    cdef unsigned char[::1] _buf
    cdef char *base
    cdef readonly uint64_t capacity
    cdef readonly uint64_t head
    cdef readonly uint64_t tail
    cdef public int pidfd
    cdef public long ppid
    cdef public int64_t spin_ns
    cdef public int64_t yield_ns
    cdef public int bell_r
    cdef public int bell_w
    cdef public int last_woke
    cdef public RingCore partner
    cdef public object pending

    def __init__(self, buf, Py_ssize_t offset, uint64_t capacity, bint init):
        cdef unsigned char[::1] view = buf
        if capacity < 64 or (capacity & (capacity - 1)) != 0:
            raise ValueError(f"ring capacity must be a power of two >= 64, got {capacity}")
        if (offset < 0 or offset % 64 != 0 or offset > view.shape[0]
                or <uint64_t>(view.shape[0] - offset) < GPI_HDR + capacity):
            raise ValueError(
                f"ring of capacity {capacity} at offset {offset} does not fit in {view.shape[0]} bytes"
            )
        self._buf = view
        self.base = <char *>&view[0] + offset
        self.capacity = capacity
        self.pidfd = -1
        self.ppid = 0
        self.spin_ns = 20000
        self.yield_ns = 0
        self.bell_r = -1
        self.bell_w = -1
        self.last_woke = 0
        self.partner = None
        self.pending = None
        if init:
            gpi_init(self.base, capacity)
        self.head = gpi_ld_acq(self.base + GPI_OFF_HEAD)
        self.tail = gpi_ld_acq(self.base + GPI_OFF_TAIL)

    def header(self):
        """(magic, layout version, capacity) as stored in shared memory."""
        cdef uint32_t *h = <uint32_t *>self.base
        cdef uint64_t cap = (<uint64_t *>(self.base + 8))[0]
        return int(h[0]), int(h[1]), int(cap)

    def shared_indices(self):
        """(head, tail) as currently published in shared memory."""
        return int(gpi_ld_acq(self.base + GPI_OFF_HEAD)), int(gpi_ld_acq(self.base + GPI_OFF_TAIL))

    def frame_header(self):
        """(length, tag) of the 8 bytes at this endpoint's head, for error messages."""
        cdef uint32_t *h = <uint32_t *>(self.base + GPI_HDR + (self.head & (self.capacity - 1)))
        return int(h[0]), int(h[1])

    def try_push(self, bytes data):
        """1 if the frame was written and published, 0 if the ring is full, else a negative code."""
        if self.base == NULL:
            raise ValueError("ring endpoint is closed")
        cdef int woke = 0
        cdef int rc = gpi_try_push(self.base, &self.tail, PyBytes_AS_STRING(data),
                                   <uint64_t>PyBytes_GET_SIZE(data), self.capacity,
                                   self.bell_w, &woke)
        self.last_woke = woke
        return rc

    def push(self, bytes data, int64_t timeout_ns):
        """Write one frame, waiting for space up to timeout_ns (< 0: forever). 1 or a negative code."""
        if self.base == NULL:
            raise ValueError("ring endpoint is closed")
        return self._push2(PyBytes_AS_STRING(data), <uint64_t>PyBytes_GET_SIZE(data), NULL, 0,
                           timeout_ns)

    cdef int _push2(self, const char *src1, uint64_t n1, const char *src2, uint64_t n2,
                    int64_t timeout_ns):
        cdef uint64_t n = n1 + n2
        cdef uint64_t need = ((n + 7) & ~(<uint64_t>7)) + 8
        cdef int woke = 0
        cdef int rc = gpi_try_push2(self.base, &self.tail, src1, n1, src2, n2, self.capacity,
                                    self.bell_w, &woke)
        if rc == 0:
            with nogil:
                while True:
                    rc = gpi_wait(self.base, 1, self.tail, need, self.capacity, timeout_ns,
                                  self.spin_ns, self.yield_ns, self.pidfd, self.ppid, -1)
                    if rc != GPI_OK:
                        break
                    rc = gpi_try_push2(self.base, &self.tail, src1, n1, src2, n2,
                                       self.capacity, self.bell_w, &woke)
                    if rc != 0:
                        break
        self.last_woke = woke
        return rc

    def send_msg(self, dict msg, frozenset kinds, Py_ssize_t max_size, object version,
                 int64_t timeout_ns):
        """Hot path of a message send: check the kind, encode with ``"v"`` stamped, push.

        Returns 1 when published, 0 when the message needs the caller's full path
        (unknown kind, outside the fast codec's subset, too big), or a negative ring
        status (then ``self.pending`` holds the frame bytes for the caller's retry).
        """
        return self._send_msg(msg, kinds, max_size, version, timeout_ns)

    cdef int _send_msg(self, dict msg, frozenset kinds, Py_ssize_t max_size, object version,
                       int64_t timeout_ns) except -100:
        if self.base == NULL:
            raise ValueError("ring endpoint is closed")
        kind = msg.get("kind")
        if type(kind) is not str or kind not in kinds:
            return 0
        data = _pack_message(msg, version)
        if data is _NOPE or PyBytes_GET_SIZE(data) > max_size:
            return 0
        cdef int rc = self._push2(PyBytes_AS_STRING(data), <uint64_t>PyBytes_GET_SIZE(data),
                                  NULL, 0, timeout_ns)
        if rc != 1:
            self.pending = data
        return rc

    def recv_msg(self, object unpackb, frozenset kinds, Py_ssize_t max_size, object version,
                 int64_t timeout_ns):
        """Hot path of a message receive: pop, unpack and check version and kind in one call.

        Returns the message dict; the frame's bytes when the caller's full decoder must
        judge it (it names what is wrong); or a negative ring status.
        """
        return self._recv_msg(unpackb, kinds, max_size, version, timeout_ns)

    cdef object _recv_msg(self, object unpackb, frozenset kinds, Py_ssize_t max_size,
                          object version, int64_t timeout_ns):
        out = self._pop(timeout_ns)
        if type(out) is not bytes:
            return out
        if PyBytes_GET_SIZE(out) > max_size:
            return out
        msg = _unpack(out)
        if msg is _NOPE:
            try:
                msg = unpackb(out)
            except Exception:
                return out
        if type(msg) is not dict:
            return out
        if (<dict>msg).get("v") != version:
            return out
        kind = (<dict>msg).get("kind")
        if type(kind) is not str or kind not in kinds:
            return out
        return msg

    def call(self, dict msg, RingCore rx, frozenset kinds, Py_ssize_t max_size, object version,
             int64_t timeout_ns, object unpackb):
        """``send_msg`` on this ring, then ``recv_msg`` on ``rx``, in one call (a round trip).

        ``timeout_ns`` covers both. Returns the reply dict; ``None`` when the message
        needs the caller's full send path (nothing was sent); a negative int when the
        push failed (``self.pending`` holds the frame); or ``(reply,)`` with the bytes
        or negative status of a receive the caller must finish.
        """
        cdef int64_t start = gpi_now_ns()
        cdef int rc = self._send_msg(msg, kinds, max_size, version, timeout_ns)
        if rc == 0:
            return None
        if rc != 1:
            return rc
        cdef int64_t left = timeout_ns
        if timeout_ns >= 0:
            left = timeout_ns - (gpi_now_ns() - start)
            if left < 0:
                left = 0
        got = rx._recv_msg(unpackb, kinds, max_size, version, left)
        if type(got) is dict:
            return got
        return (got,)

    cdef object _take(self, int64_t n):
        cdef object out = PyBytes_FromStringAndSize(NULL, n)
        gpi_copy_out(PyBytes_AS_STRING(out), self.base, self.head + 8, <uint64_t>n, self.capacity)
        self.head += ((<uint64_t>n + 7) & ~(<uint64_t>7)) + 8
        gpi_st_rel(self.base + GPI_OFF_HEAD, self.head)
        gpi_notify(self.base, GPI_OFF_SSEQ, GPI_OFF_SWAIT, -1)
        return out

    def try_pop(self):
        """The next frame's bytes, None if empty, or a negative error code."""
        if self.base == NULL:
            raise ValueError("ring endpoint is closed")
        cdef int64_t n = gpi_peek(self.base, self.head, self.capacity)
        if n >= 0:
            return self._take(n)
        if n == GPI_EMPTY:
            return None
        return n

    def pop(self, int64_t timeout_ns):
        """The next frame's bytes, waiting up to timeout_ns (< 0: forever), or a negative code."""
        return self._pop(timeout_ns)

    cdef object _pop(self, int64_t timeout_ns):
        if self.base == NULL:
            raise ValueError("ring endpoint is closed")
        cdef int64_t n = gpi_peek(self.base, self.head, self.capacity)
        cdef int rc
        cdef int64_t spin = self.spin_ns
        cdef int64_t yld = self.yield_ns
        if self.partner is not None and self.partner.last_woke:
            spin = 0
            yld = 0
        if n == GPI_EMPTY:
            with nogil:
                rc = gpi_wait(self.base, 0, self.head, 0, self.capacity, timeout_ns,
                              spin, yld, self.pidfd, self.ppid, self.bell_r)
            if rc != GPI_OK:
                return rc
            n = gpi_peek(self.base, self.head, self.capacity)
        if n >= 0:
            return self._take(n)
        return n

    def reset(self):
        """Zero both indices here and in shared memory and wake any sleeper (peer must reset too)."""
        if self.base == NULL:
            return
        self.head = 0
        self.tail = 0
        gpi_st_rel(self.base + GPI_OFF_HEAD, 0)
        gpi_st_rel(self.base + GPI_OFF_TAIL, 0)
        gpi_kick(self.base, GPI_OFF_DSEQ)
        gpi_kick(self.base, GPI_OFF_SSEQ)
        gpi_notify(self.base, GPI_OFF_DSEQ, GPI_OFF_DWAIT, self.bell_w)

    def resync(self):
        """Re-read both indices from shared memory (after the peer reset the ring)."""
        if self.base != NULL:
            self.head = gpi_ld_acq(self.base + GPI_OFF_HEAD)
            self.tail = gpi_ld_acq(self.base + GPI_OFF_TAIL)

    def close(self):
        """Drop the buffer reference; later calls raise ValueError."""
        self.base = NULL
        self._buf = None
        self.partner = None


# -- progress cells: a u64 in shared memory that a writer raises and a reader follows --------
#
# A progress cell is 16 bytes, 8-aligned: u64 value | u32 seq | u32 waiters. The writer
# release-stores the value and, only if the reader announced it sleeps (waiters), bumps seq
# and makes the FUTEX_WAKE syscall; the reader spins briefly, then sleeps on seq. On a
# machine with no idle core the reader then really sleeps instead of stealing the writer's CPU.

cdef extern from *:
    """
    static inline void gpi_publish_u64(char *p, uint64_t v) {
        gpi_st_rel(p, v);
        gpi_notify(p, 8, 12, -1);
    }

    static int gpi_wait_geq(char *p, uint64_t target, int64_t timeout_ns, int64_t spin_ns,
                            int pidfd, long ppid, uint64_t *seen) {
        int64_t start = gpi_now_ns();
        int64_t deadline = timeout_ns < 0 ? INT64_MAX : start + timeout_ns;
        unsigned i = 0;
        uint64_t v;
        for (;;) {
            v = gpi_ld_acq(p);
            if (v >= target) { *seen = v; return GPI_OK; }
            gpi_relax();
            if ((++i & 31) == 0) {
                int64_t t = gpi_now_ns();
                if (t - start >= spin_ns || t >= deadline) break;
            }
        }
        uint32_t *seq = gpi_u32(p + 8);
        uint32_t *waiters = gpi_u32(p + 12);
        int check_peer = 1;
        for (;;) {
            uint32_t s = __atomic_load_n(seq, __ATOMIC_SEQ_CST);
            __atomic_store_n(waiters, 1u, __ATOMIC_SEQ_CST);
            v = gpi_ld_sc(p);
            if (v >= target) { __atomic_store_n(waiters, 0u, __ATOMIC_RELAXED); *seen = v; return GPI_OK; }
            if (check_peer && gpi_peer_dead(pidfd, ppid)) {
                __atomic_store_n(waiters, 0u, __ATOMIC_RELAXED);
                v = gpi_ld_acq(p);
                *seen = v;
                return v >= target ? GPI_OK : GPI_PEER_DIED;
            }
            int64_t t = gpi_now_ns();
            if (t >= deadline) { __atomic_store_n(waiters, 0u, __ATOMIC_RELAXED); *seen = v; return GPI_TIMEOUT; }
            int64_t slice = deadline - t;
            if (slice > GPI_SLICE_NS) slice = GPI_SLICE_NS;
            check_peer = gpi_futex_wait(seq, s, slice);
        }
    }
    """
    void gpi_publish_u64(char *p, uint64_t v) nogil
    int gpi_wait_geq(char *p, uint64_t target, int64_t timeout_ns, int64_t spin_ns,
                     int pidfd, long ppid, uint64_t *seen) nogil

PROGRESS_CELL = 16


cdef char *_word(unsigned char[::1] buf, Py_ssize_t offset) except NULL:
    if offset < 0 or offset % 8 != 0 or offset + 16 > buf.shape[0]:
        raise ValueError(
            f"progress cell at offset {offset} is outside or misaligned in {buf.shape[0]} bytes"
        )
    return <char *>&buf[0] + offset


def store_u64(unsigned char[::1] buf, Py_ssize_t offset, uint64_t value):
    """Release-store ``value`` into the cell at ``offset`` and wake a reader that sleeps on it."""
    gpi_publish_u64(_word(buf, offset), value)


def load_u64(unsigned char[::1] buf, Py_ssize_t offset):
    """Acquire-load the value of the cell at ``offset``."""
    return gpi_ld_acq(_word(buf, offset))


def wait_u64(unsigned char[::1] buf, Py_ssize_t offset, uint64_t target, int64_t timeout_ns,
             int64_t spin_ns=20000, int pidfd=-1, long ppid=0):
    """Wait until the cell at ``offset`` holds >= target: (status code, last value seen)."""
    cdef char *p = _word(buf, offset)
    cdef uint64_t seen = 0
    cdef int rc
    with nogil:
        rc = gpi_wait_geq(p, target, timeout_ns, spin_ns, pidfd, ppid, &seen)
    return rc, seen


# -- a msgpack subset codec for the channel's hot path ----------------------------------------
#
# Small control messages dominate the channel; msgpack-python's per-call overhead costs more
# than the ring itself. This codec handles the common subset (nil, bool, int, float, str,
# bytes, list/tuple, dict with str keys in decode) and writes exactly the bytes
# msgpack.Packer(use_bin_type=True) writes; anything else returns NOT_HANDLED and the caller
# uses msgpack itself. Tests compare both on random values.

from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memcpy
from cpython.unicode cimport PyUnicode_DecodeUTF8
from cpython.long cimport PyLong_AsLongLongAndOverflow

cdef extern from "Python.h":
    const char *PyUnicode_AsUTF8AndSize(object s, Py_ssize_t *size) except NULL
    unsigned long long PyLong_AsUnsignedLongLong(object o) except? -1
    double PyFloat_AS_DOUBLE(object o)


class _NotHandled:
    """Marker: the fast codec does not handle this value; use msgpack."""

    def __repr__(self):
        return "NOT_HANDLED"


NOT_HANDLED = _NotHandled()
cdef object _NOPE = NOT_HANDLED
cdef int _MAX_DEPTH = 32


cdef struct _Buf:
    char *p
    Py_ssize_t n
    Py_ssize_t cap


cdef int _grow(_Buf *b, Py_ssize_t extra) except -1:
    cdef Py_ssize_t want = b.n + extra
    cdef Py_ssize_t cap
    cdef char *q
    if want <= b.cap:
        return 0
    cap = b.cap * 2 if b.cap else 256
    while cap < want:
        cap *= 2
    q = <char *>realloc(b.p, cap)
    if q == NULL:
        raise MemoryError()
    b.p = q
    b.cap = cap
    return 0


cdef inline int _put1(_Buf *b, unsigned char c) except -1:
    _grow(b, 1)
    b.p[b.n] = <char>c
    b.n += 1
    return 0


cdef inline int _put_be(_Buf *b, unsigned char tag, unsigned long long v, int nbytes) except -1:
    cdef int i
    _grow(b, 1 + nbytes)
    b.p[b.n] = <char>tag
    for i in range(nbytes):
        b.p[b.n + 1 + i] = <char>((v >> (8 * (nbytes - 1 - i))) & 0xFF)
    b.n += 1 + nbytes
    return 0


cdef inline int _put_raw(_Buf *b, const char *s, Py_ssize_t n) except -1:
    _grow(b, n)
    memcpy(b.p + b.n, s, n)
    b.n += n
    return 0


cdef int _put_len(_Buf *b, Py_ssize_t n, unsigned char fix, Py_ssize_t fixmax,
                  unsigned char t8, unsigned char t16, unsigned char t32) except -1:
    if n <= fixmax:
        return _put1(b, fix | <unsigned char>n)
    if t8 and n < 256:
        return _put_be(b, t8, n, 1)
    if n < 65536:
        return _put_be(b, t16, n, 2)
    if n <= 0xFFFFFFFF:
        return _put_be(b, t32, n, 4)
    return 1


cdef int _enc_int(_Buf *b, object o) except -1:
    cdef int overflow = 0
    cdef long long d = PyLong_AsLongLongAndOverflow(o, &overflow)
    cdef unsigned long long u
    if overflow > 0:
        u = PyLong_AsUnsignedLongLong(o)  # raises OverflowError past 2**64-1
        return _put_be(b, 0xcf, u, 8)
    if overflow < 0:
        return 1
    if d < -(1 << 5):
        if d < -(1 << 15):
            if d < -(1LL << 31):
                return _put_be(b, 0xd3, <unsigned long long>d, 8)
            return _put_be(b, 0xd2, <unsigned long long>d & 0xFFFFFFFF, 4)
        if d < -(1 << 7):
            return _put_be(b, 0xd1, <unsigned long long>d & 0xFFFF, 2)
        return _put_be(b, 0xd0, <unsigned long long>d & 0xFF, 1)
    if d < (1 << 7):
        return _put1(b, <unsigned char>(d & 0xFF))
    if d < (1 << 8):
        return _put_be(b, 0xcc, d, 1)
    if d < (1 << 16):
        return _put_be(b, 0xcd, d, 2)
    if d < (1LL << 32):
        return _put_be(b, 0xce, d, 4)
    return _put_be(b, 0xcf, d, 8)


cdef int _enc(_Buf *b, object o, int depth) except -1:
    """0 when written, 1 when the value is outside the subset."""
    cdef Py_ssize_t n
    cdef const char *s
    cdef double f
    cdef unsigned long long bits
    t = type(o)
    if o is None:
        return _put1(b, 0xc0)
    if o is True:
        return _put1(b, 0xc3)
    if o is False:
        return _put1(b, 0xc2)
    if t is int:
        try:
            return _enc_int(b, o)
        except OverflowError:
            return 1
    if t is float:
        f = PyFloat_AS_DOUBLE(o)
        memcpy(&bits, &f, 8)
        return _put_be(b, 0xcb, bits, 8)
    if t is str:
        try:
            s = PyUnicode_AsUTF8AndSize(o, &n)
        except UnicodeEncodeError:
            return 1
        if _put_len(b, n, 0xa0, 31, 0xd9, 0xda, 0xdb):
            return 1
        return _put_raw(b, s, n)
    if t is bytes:
        n = len(<bytes>o)
        if _put_len(b, n, 0xc4, -1, 0xc4, 0xc5, 0xc6):
            return 1
        return _put_raw(b, PyBytes_AS_STRING(o), n)
    if depth >= _MAX_DEPTH:
        return 1
    if t is list or t is tuple:
        n = len(o)
        if _put_len(b, n, 0x90, 15, 0, 0xdc, 0xdd):
            return 1
        for x in o:
            if _enc(b, x, depth + 1):
                return 1
        return 0
    if t is dict:
        n = len(<dict>o)
        if _put_len(b, n, 0x80, 15, 0, 0xde, 0xdf):
            return 1
        for k, x in (<dict>o).items():
            if _enc(b, k, depth + 1) or _enc(b, x, depth + 1):
                return 1
        return 0
    return 1


cdef object _finish(_Buf *b, int rc):
    try:
        if rc:
            return _NOPE
        return PyBytes_FromStringAndSize(b.p, b.n)
    finally:
        free(b.p)


def fast_pack(object o):
    """``msgpack.Packer(use_bin_type=True).pack(o)`` for the subset, else NOT_HANDLED."""
    cdef _Buf b
    b.p = NULL
    b.n = 0
    b.cap = 0
    cdef int rc
    try:
        rc = _enc(&b, o, 0)
    except BaseException:
        free(b.p)
        raise
    return _finish(&b, rc)


def fast_pack_message(dict msg, object version):
    """A message map with ``"v": version`` first (added unless ``msg`` has it), else NOT_HANDLED.

    NOT_HANDLED also when ``msg`` carries a different ``"v"``: the caller's full path decides.
    """
    return _pack_message(msg, version)


cdef object _pack_message(dict msg, object version):
    cdef _Buf b
    b.p = NULL
    b.n = 0
    b.cap = 0
    cdef int rc = 0
    cdef Py_ssize_t n = len(msg)
    cdef bint has_v = "v" in msg
    if has_v and msg["v"] != version:
        return _NOPE
    try:
        if has_v:
            rc = _enc(&b, msg, 0)
        else:
            rc = _put_len(&b, n + 1, 0x80, 15, 0, 0xde, 0xdf)
            if not rc:
                rc = _enc(&b, "v", 1) or _enc(&b, version, 1)
            if not rc:
                for k, x in msg.items():
                    if _enc(&b, k, 1) or _enc(&b, x, 1):
                        rc = 1
                        break
    except BaseException:
        free(b.p)
        raise
    return _finish(&b, rc)


cdef inline unsigned long long _be(const unsigned char *p, int nbytes):
    cdef unsigned long long v = 0
    cdef int i
    for i in range(nbytes):
        v = (v << 8) | p[i]
    return v


cdef object _dec(const unsigned char *p, Py_ssize_t n, Py_ssize_t *pos, int depth):
    cdef Py_ssize_t i = pos[0]
    cdef Py_ssize_t ln
    cdef unsigned char c
    cdef unsigned long long u
    cdef double f
    cdef float f32
    cdef unsigned int u32
    if i >= n:
        return _NOPE
    c = p[i]
    i += 1
    if c <= 0x7f:
        pos[0] = i
        return <long>c
    if c >= 0xe0:
        pos[0] = i
        return <long>(<signed char>c)
    if c >= 0xa0 and c <= 0xbf:
        ln = c & 0x1f
        return _dec_str(p, n, pos, i, ln)
    if c >= 0x80 and c <= 0x8f:
        pos[0] = i
        return _dec_map(p, n, pos, c & 0x0f, depth)
    if c >= 0x90 and c <= 0x9f:
        pos[0] = i
        return _dec_arr(p, n, pos, c & 0x0f, depth)
    if c == 0xc0:
        pos[0] = i
        return None
    if c == 0xc2:
        pos[0] = i
        return False
    if c == 0xc3:
        pos[0] = i
        return True
    if c >= 0xcc and c <= 0xcf:  # uint 8..64
        ln = 1 << (c - 0xcc)
        if i + ln > n:
            return _NOPE
        u = _be(p + i, <int>ln)
        pos[0] = i + ln
        return u
    if c >= 0xd0 and c <= 0xd3:  # int 8..64
        ln = 1 << (c - 0xd0)
        if i + ln > n:
            return _NOPE
        u = _be(p + i, <int>ln)
        pos[0] = i + ln
        if ln == 1:
            return <long>(<signed char>u)
        if ln == 2:
            return <long>(<short>u)
        if ln == 4:
            return <long>(<int>u)
        return <long long>u
    if c == 0xca:
        if i + 4 > n:
            return _NOPE
        u32 = <unsigned int>_be(p + i, 4)
        memcpy(&f32, &u32, 4)
        pos[0] = i + 4
        return <double>f32
    if c == 0xcb:
        if i + 8 > n:
            return _NOPE
        u = _be(p + i, 8)
        memcpy(&f, &u, 8)
        pos[0] = i + 8
        return f
    if c >= 0xd9 and c <= 0xdb:  # str 8/16/32
        ln = 1 << (c - 0xd9)
        if i + ln > n:
            return _NOPE
        return _dec_str(p, n, pos, i + ln, <Py_ssize_t>_be(p + i, <int>ln))
    if c >= 0xc4 and c <= 0xc6:  # bin 8/16/32
        ln = 1 << (c - 0xc4)
        if i + ln > n:
            return _NOPE
        u = _be(p + i, <int>ln)
        i += ln
        if <unsigned long long>(n - i) < u:
            return _NOPE
        pos[0] = i + <Py_ssize_t>u
        return PyBytes_FromStringAndSize(<const char *>p + i, <Py_ssize_t>u)
    if c == 0xdc or c == 0xdd:
        ln = 2 if c == 0xdc else 4
        if i + ln > n:
            return _NOPE
        pos[0] = i + ln
        return _dec_arr(p, n, pos, <Py_ssize_t>_be(p + i, <int>ln), depth)
    if c == 0xde or c == 0xdf:
        ln = 2 if c == 0xde else 4
        if i + ln > n:
            return _NOPE
        pos[0] = i + ln
        return _dec_map(p, n, pos, <Py_ssize_t>_be(p + i, <int>ln), depth)
    return _NOPE


cdef object _dec_str(const unsigned char *p, Py_ssize_t n, Py_ssize_t *pos, Py_ssize_t start,
                     Py_ssize_t ln):
    if ln < 0 or ln > n - start:
        return _NOPE
    try:
        s = PyUnicode_DecodeUTF8(<const char *>p + start, ln, NULL)
    except UnicodeDecodeError:
        return _NOPE
    pos[0] = start + ln
    return s


cdef object _dec_arr(const unsigned char *p, Py_ssize_t n, Py_ssize_t *pos, Py_ssize_t count,
                     int depth):
    cdef Py_ssize_t k
    if depth >= _MAX_DEPTH or count > n - pos[0]:
        return _NOPE
    out = []
    for k in range(count):
        x = _dec(p, n, pos, depth + 1)
        if x is _NOPE:
            return _NOPE
        out.append(x)
    return out


cdef object _dec_map(const unsigned char *p, Py_ssize_t n, Py_ssize_t *pos, Py_ssize_t count,
                     int depth):
    cdef Py_ssize_t k
    if depth >= _MAX_DEPTH or count > n - pos[0]:
        return _NOPE
    out = {}
    for k in range(count):
        key = _dec(p, n, pos, depth + 1)
        if type(key) is not str:
            return _NOPE
        x = _dec(p, n, pos, depth + 1)
        if x is _NOPE:
            return _NOPE
        out[key] = x
    return out


def fast_unpack(bytes data):
    """``msgpack.unpackb(data)`` for the subset (maps with str keys), else NOT_HANDLED."""
    return _unpack(data)


cdef object _unpack(bytes data):
    cdef Py_ssize_t pos = 0
    cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
    out = _dec(<const unsigned char *>PyBytes_AS_STRING(data), n, &pos, 0)
    if out is _NOPE or pos != n:
        return _NOPE
    return out
