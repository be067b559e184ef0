/*
 * One pass over a flat block of float32, float64, bfloat16 or float16 values that yields
 * every partial sum, count and extreme a summary needs (see FIELDS in reductions.py):
 * the fused form of the torch reductions in reductions.py, which read each value about
 * eight times. Built by hatch_build.py as a plain shared library (no Python headers) and
 * called through ctypes, which releases the GIL; tensorpeek falls back to the torch path
 * when it is absent. It only reads the values it is given and writes `out`.
 *
 * tp_bin counts the finite values per histogram bin with the same float64 arithmetic as
 * histogram.Binning.count (linear scale), so both give the same counts. tp_reduce_strided does what
 * tp_reduce does for a 2-D strided view (a column slice, a stepped slice), gathering it
 * piece by piece into each thread's cache. tp_sumsq is the breakpoint hooks' non-finite
 * screen: the sum of squares of a contiguous block.
 *
 * Layout: values are walked in chunks of CHUNK. A chunk first takes the fast loop, which
 * assumes every value is finite and is written so compilers vectorize it (LANES
 * independent accumulators, selects instead of branches). Any NaN or Inf makes that
 * chunk's float64 sum or sum of squares non-finite (float32, bfloat16 and float16 values
 * cannot overflow a float64 sum), and the chunk is then redone by the masked loop, which
 * counts them (also vectorized). The last values that do not fill the lanes take the
 * careful scalar loop. Sums are float64: per lane within a chunk, then chunk by chunk.
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LANES 16
#define CHUNK 4096 /* a multiple of LANES; a lane's int32 counts stay small */
#define MAX_THREADS 64

enum {
    F_FINITE, F_NAN, F_POSINF, F_NEGINF, F_ZEROS, F_SUM, F_SUMSQ, F_ABSSUM,
    F_MIN, F_MAX, F_ABSMIN, F_ABSMAX, F_SATURATED, F_SUBNORMAL, F_COUNT
};

enum { K_F32 = 0, K_F64 = 1, K_BF16 = 2, K_F16 = 3 };

#if defined(__x86_64__) && defined(__GNUC__) && defined(TP_CLONES)
/* AVX2 + FMA + F16C where the CPU has them, chosen at load time; baseline code elsewhere */
#define TP_VECTOR __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define TP_VECTOR
#endif

typedef struct {
    double sum, sumsq, abssum, lo, hi, abslo, abshi;
    int64_t zeros, saturated, below; /* below: |x| < tiny, zeros included */
    int64_t nan, posinf, neginf;     /* (the masked loops only; the fast ones see none) */
} chunk_t;

static inline float load_f32(const void *p, int64_t i) { return ((const float *)p)[i]; }
static inline float load_bf16(const void *p, int64_t i) {
    uint32_t bits = (uint32_t)((const uint16_t *)p)[i] << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}
/* float16 by integer operations (vectorizable, exact, and unaffected by flush-to-zero
 * modes): normal values rebias their exponent, subnormals are their 10-bit integer times
 * 2^-24 (a normal float32), Inf/NaN keep their payload. */
static inline float load_f16(const void *p, int64_t i) {
    uint32_t h = ((const uint16_t *)p)[i];
    uint32_t exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
    uint32_t normal = ((exponent + 112u) << 23) | (mantissa << 13);
    uint32_t special = 0x7f800000u | (mantissa << 13);
    float small = (float)(int32_t)mantissa * 0x1p-24f;
    uint32_t small_bits;
    memcpy(&small_bits, &small, sizeof small_bits);
    uint32_t bits = exponent == 31 ? special : normal;
    bits = exponent == 0 ? small_bits : bits;
    bits |= (h & 0x8000u) << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* The loops over a chunk's LANES-aligned body, written so that compilers vectorize them
 * (LANES independent accumulators, selects instead of branches). The fast loop
 * (MASKED 0) assumes every value is finite; the masked one (MASKED 1) is for chunks that
 * hold NaN or Inf (a tensor after a NaN breakpoint often has them everywhere): those add
 * nothing to the sums and extremes and are counted by kind. VT: the lanes' value type
 * (float, exact for float32/bfloat16/float16; double for float64), CT: their count type;
 * sums are float64 either way. NARROW: count saturation and subnormals too. */
#define DEFINE_LOOP(NAME, VT, CT, LOAD, ABS, NARROW, MASKED)                                  \
    TP_VECTOR static void NAME(const void *p, int64_t n, double center, float top,            \
                               float tiny, chunk_t *r) {                                      \
        const VT inf = (VT)INFINITY;                                                          \
        VT lo[LANES], hi[LANES], alo[LANES], ahi[LANES];                                      \
        CT zeros[LANES], sat[LANES], below[LANES], nan[LANES], pinf[LANES], ninf[LANES];      \
        double s1[LANES], s2[LANES], sa[LANES];                                               \
        for (int j = 0; j < LANES; j++) {                                                     \
            lo[j] = alo[j] = inf;                                                             \
            hi[j] = -inf;                                                                     \
            ahi[j] = 0;                                                                       \
            zeros[j] = sat[j] = below[j] = nan[j] = pinf[j] = ninf[j] = 0;                    \
            s1[j] = s2[j] = sa[j] = 0.0;                                                      \
        }                                                                                     \
        for (int64_t i = 0; i < n; i += LANES) {                                              \
            for (int j = 0; j < LANES; j++) {                                                 \
                VT v = (VT)LOAD(p, i + j);                                                    \
                VT a = ABS(v);                                                                \
                double d = (double)v - center;                                                \
                VT low = v, high = v, alow = a, ahigh = a;                                    \
                if (MASKED) { /* NaN and +-Inf: no sums, no extremes, counted apart */        \
                    VT keep = a < inf ? (VT)1 : (VT)0, z = a < inf ? v : (VT)0;               \
                    d = ((double)z - center) * (double)keep;                                  \
                    low = a < inf ? v : inf;                                                  \
                    high = a < inf ? v : -inf;                                                \
                    alow = a < inf ? a : inf;                                                 \
                    ahigh = a < inf ? a : (VT)0;                                              \
                    nan[j] += (v != v);                                                       \
                    pinf[j] += (v == inf);                                                    \
                    ninf[j] += (v == -inf);                                                   \
                }                                                                             \
                s1[j] += d;                                                                   \
                s2[j] += d * d;                                                               \
                sa[j] += fabs(d);                                                             \
                lo[j] = low < lo[j] ? low : lo[j];                                            \
                hi[j] = high > hi[j] ? high : hi[j];                                          \
                alo[j] = alow < alo[j] ? alow : alo[j];                                       \
                ahi[j] = ahigh > ahi[j] ? ahigh : ahi[j];                                     \
                zeros[j] += (v == 0);                                                         \
                if (NARROW) {                                                                 \
                    sat[j] += (a >= top); /* Inf included: beyond the largest finite */       \
                    below[j] += (a < tiny);                                                   \
                }                                                                             \
            }                                                                                 \
        }                                                                                     \
        chunk_t c = {0.0, 0.0, 0.0, INFINITY, -INFINITY, INFINITY, 0.0, 0, 0, 0, 0, 0, 0};    \
        for (int j = 0; j < LANES; j++) {                                                     \
            c.sum += s1[j];                                                                   \
            c.sumsq += s2[j];                                                                 \
            c.abssum += sa[j];                                                                \
            c.lo = lo[j] < c.lo ? lo[j] : c.lo;                                               \
            c.hi = hi[j] > c.hi ? hi[j] : c.hi;                                               \
            c.abslo = alo[j] < c.abslo ? alo[j] : c.abslo;                                    \
            c.abshi = ahi[j] > c.abshi ? ahi[j] : c.abshi;                                    \
            c.zeros += zeros[j];                                                              \
            c.saturated += sat[j];                                                            \
            c.below += below[j];                                                              \
            c.nan += nan[j];                                                                  \
            c.posinf += pinf[j];                                                              \
            c.neginf += ninf[j];                                                              \
        }                                                                                     \
        *r = c;                                                                               \
    }

static inline double load_f64(const void *p, int64_t i) { return ((const double *)p)[i]; }
DEFINE_LOOP(fast_f32, float, int32_t, load_f32, fabsf, 0, 0)
DEFINE_LOOP(fast_bf16, float, int32_t, load_bf16, fabsf, 1, 0)
DEFINE_LOOP(fast_f16, float, int32_t, load_f16, fabsf, 1, 0)
DEFINE_LOOP(fast_f64, double, int64_t, load_f64, fabs, 0, 0)
DEFINE_LOOP(masked_f32, float, int32_t, load_f32, fabsf, 0, 1)
DEFINE_LOOP(masked_bf16, float, int32_t, load_bf16, fabsf, 1, 1)
DEFINE_LOOP(masked_f16, float, int32_t, load_f16, fabsf, 1, 1)
DEFINE_LOOP(masked_f64, double, int64_t, load_f64, fabs, 0, 1)

typedef void (*fast_fn)(const void *, int64_t, double, float, float, chunk_t *);

static double value_at(int kind, const void *p, int64_t i) {
    switch (kind) {
    case K_F64: return ((const double *)p)[i];
    case K_BF16: return load_bf16(p, i);
    case K_F16: return load_f16(p, i);
    default: return load_f32(p, i);
    }
}

static size_t item_size(int kind) {
    return kind == K_F64 ? 8 : (kind == K_F32 ? 4 : 2);
}

static void add_min(double *out, int field, double v) { if (v < out[field]) out[field] = v; }
static void add_max(double *out, int field, double v) { if (v > out[field]) out[field] = v; }

/* Values the fast loop cannot take (NaN, Inf, float64 sums that overflow, the tail that
 * is not a multiple of LANES), one at a time. */
static void careful(int kind, const void *p, int64_t start, int64_t end, double center,
                    double top, double tiny, double *out) {
    int narrow = kind == K_BF16 || kind == K_F16;
    for (int64_t i = start; i < end; i++) {
        double v = value_at(kind, p, i);
        double a = fabs(v);
        if (v != v) {
            out[F_NAN] += 1;
            continue;
        }
        if (a == INFINITY) {
            out[v > 0 ? F_POSINF : F_NEGINF] += 1;
            if (narrow) out[F_SATURATED] += 1; /* beyond the largest finite value */
            continue;
        }
        out[F_FINITE] += 1;
        double d = v - center;
        out[F_SUM] += d;
        out[F_SUMSQ] += d * d;
        out[F_ABSSUM] += fabs(d);
        out[F_ZEROS] += (v == 0.0);
        if (narrow) {
            out[F_SATURATED] += (a >= top);
            out[F_SUBNORMAL] += (a > 0.0 && a < tiny);
        }
        add_min(out, F_MIN, v);
        add_max(out, F_MAX, v);
        add_min(out, F_ABSMIN, a);
        add_max(out, F_ABSMAX, a);
    }
}

static void init_row(double *out) {
    for (int k = 0; k < F_COUNT; k++) out[k] = 0.0;
    out[F_MIN] = out[F_ABSMIN] = INFINITY;
    out[F_MAX] = -INFINITY;
}

static void reduce_range(int kind, const void *p, int64_t n, double center, double top,
                         double tiny, double *out) {
    fast_fn fast = kind == K_F64 ? fast_f64 : kind == K_BF16 ? fast_bf16 : fast_f32;
    fast_fn masked = kind == K_F64 ? masked_f64 : kind == K_BF16 ? masked_bf16 : masked_f32;
    if (kind == K_F16) {
        fast = fast_f16;
        masked = masked_f16;
    }
    init_row(out);
    for (int64_t s = 0; s < n; s += CHUNK) {
        int64_t m = n - s < CHUNK ? n - s : CHUNK;
        int64_t body = m - m % LANES;
        chunk_t c;
        const void *base = (const char *)p + (size_t)s * item_size(kind);
        fast(base, body, center, (float)top, (float)tiny, &c);
        if (!(isfinite(c.sum) && isfinite(c.sumsq) && isfinite(c.abssum)))
            masked(base, body, center, (float)top, (float)tiny, &c); /* NaN/Inf in the chunk */
        int64_t nonfinite = c.nan + c.posinf + c.neginf;
        out[F_NAN] += (double)c.nan;
        out[F_POSINF] += (double)c.posinf;
        out[F_NEGINF] += (double)c.neginf;
        out[F_FINITE] += (double)(body - nonfinite);
        out[F_ZEROS] += (double)c.zeros;
        out[F_SUM] += c.sum;
        out[F_SUMSQ] += c.sumsq;
        out[F_ABSSUM] += c.abssum;
        if (kind == K_BF16 || kind == K_F16) { /* the fast loops count these for them only */
            out[F_SATURATED] += (double)c.saturated;
            out[F_SUBNORMAL] += (double)(c.below - c.zeros);
        }
        if (body > nonfinite) {
            add_min(out, F_MIN, c.lo);
            add_max(out, F_MAX, c.hi);
            add_min(out, F_ABSMIN, c.abslo);
            add_max(out, F_ABSMAX, c.abshi);
        }
        careful(kind, p, s + body, s + m, center, top, tiny, out);
    }
}

/* Run job[0] here and jobs 1..used-1 on threads of their own, joined before returning (a
 * job whose thread cannot be started runs here too). */
static void run_all(void *jobs, size_t size, int used, void *(*fn)(void *)) {
    pthread_t tids[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    char *job = (char *)jobs;
    for (int t = 1; t < used; t++)
        started[t] = pthread_create(&tids[t], NULL, fn, job + (size_t)t * size) == 0;
    fn(job);
    for (int t = 1; t < used; t++) {
        if (started[t])
            pthread_join(tids[t], NULL);
        else
            fn(job + (size_t)t * size);
    }
}

/* Add the partials row `o` into `out`. */
static void merge_row(double *out, const double *o) {
    for (int k = 0; k < F_COUNT; k++) {
        if (k == F_MIN || k == F_ABSMIN)
            add_min(out, k, o[k]);
        else if (k == F_MAX || k == F_ABSMAX)
            add_max(out, k, o[k]);
        else
            out[k] += o[k];
    }
}

typedef struct {
    int kind;
    const void *p;
    int64_t n;
    double center, top, tiny;
    double out[F_COUNT];
} job_t;

static void *run_job(void *arg) {
    job_t *job = (job_t *)arg;
    reduce_range(job->kind, job->p, job->n, job->center, job->top, job->tiny, job->out);
    return NULL;
}

/* The library's version of the FIELDS layout and entry points: the loader checks it. */
int tp_abi(void) { return 6; }

/*
 * Reduce `n` values of kind `kind` at `p` into `out[F_COUNT]` using up to `threads`
 * threads (the calling one and threads - 1 more, joined before returning). The three
 * sums are of d = x - `center` over the finite values (the second pass that makes the
 * variance exact passes the mean; the first passes 0). `top` and `tiny`: the dtype's
 * largest finite and smallest normal magnitudes for the saturation and subnormal counts,
 * which only bfloat16 and float16 blocks get (they stay 0 for the others). Returns 0, or
 * -1 for an unknown kind (out untouched).
 */
int tp_reduce(int kind, const void *p, int64_t n, double center, double top, double tiny,
              int threads, double *out) {
    if (kind < K_F32 || kind > K_F16 || n < 0) return -1;
    if (threads < 1) threads = 1;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    int64_t per = (n + threads - 1) / threads;
    per = (per + CHUNK - 1) / CHUNK * CHUNK;
    if (per == 0) per = CHUNK;
    job_t jobs[MAX_THREADS];
    int used = 0;
    for (int64_t s = 0; s < n || used == 0; s += per) {
        int64_t e = s + per < n ? s + per : n;
        job_t job = {kind, (const char *)p + (size_t)s * item_size(kind), e - s, center, top, tiny,
                     {0}};
        jobs[used++] = job;
        if (e >= n) break;
    }
    run_all(jobs, sizeof *jobs, used, run_job);
    init_row(out);
    for (int t = 0; t < used; t++) merge_row(out, jobs[t].out);
    return 0;
}

/* ---- histogram counts ---------------------------------------------------------------- */

#define BIN_WAYS 8 /* count tables: value k adds to table k % 8, so equal bins do not wait */
#define BIN_RUN 256 /* values whose bins are computed (vectorized) before they are counted */

/* Bins of BIN_RUN values at a time, then one increment each in its own table. */
#define DEFINE_BIN(NAME, LOAD)                                                                \
    TP_VECTOR static void NAME(const void *p, int64_t n, double a, double scale,              \
                               int64_t nbins, int64_t *tables) {                              \
        double top = (double)(nbins - 1);                                                     \
        int32_t idx[BIN_RUN];                                                                 \
        for (int64_t s = 0; s < n; s += BIN_RUN) {                                            \
            int64_t m = n - s < BIN_RUN ? n - s : BIN_RUN;                                    \
            for (int64_t k = 0; k < m; k++) {                                                 \
                double v = (double)LOAD(p, s + k);                                            \
                double t = (v - a) * scale;                                                   \
                t = t < 0.0 ? 0.0 : t;                                                        \
                t = t > top ? top : t;                                                        \
                idx[k] = fabs(v) < INFINITY ? (int32_t)t : -1; /* NaN and +-Inf: -1 */        \
            }                                                                                 \
            for (int64_t k = 0; k < m; k++)                                                   \
                if (idx[k] >= 0) tables[(k % BIN_WAYS) * nbins + idx[k]] += 1;                \
        }                                                                                     \
    }

DEFINE_BIN(bin_f32, load_f32)
DEFINE_BIN(bin_f64, load_f64)
DEFINE_BIN(bin_bf16, load_bf16)
DEFINE_BIN(bin_f16, load_f16)

typedef void (*bin_fn)(const void *, int64_t, double, double, int64_t, int64_t *);

typedef struct {
    bin_fn fn;
    const void *p;
    int64_t n, nbins;
    double a, scale;
    int64_t *tables;
} bin_job_t;

static void *run_bin_job(void *arg) {
    bin_job_t *job = (bin_job_t *)arg;
    job->fn(job->p, job->n, job->a, job->scale, job->nbins, job->tables);
    return NULL;
}

/*
 * Add to `counts[nbins]` the number of finite values among the `n` at `p` that fall in each
 * bin: bin = clamp((x - a) * scale, 0, nbins - 1), truncated (x >= a for every value the
 * caller bins, so truncation is the floor). Up to `threads` threads. Returns 0, or -1 for an
 * unknown kind, nbins outside [1, 2^31) or no memory (counts untouched).
 */
int tp_bin(int kind, const void *p, int64_t n, double a, double scale, int64_t nbins,
           int threads, int64_t *counts) {
    bin_fn fn = kind == K_F32    ? bin_f32
                : kind == K_F64  ? bin_f64
                : kind == K_BF16 ? bin_bf16
                : kind == K_F16  ? bin_f16
                                 : NULL;
    if (fn == NULL || nbins < 1 || nbins > INT32_MAX || n < 0) return -1;
    if (threads < 1) threads = 1;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    int64_t per = (n + threads - 1) / threads;
    if (per == 0) per = 1;
    int used = (int)((n + per - 1) / per);
    if (used == 0) used = 1;
    int64_t *tables = calloc((size_t)used * BIN_WAYS * (size_t)nbins, sizeof(int64_t));
    if (tables == NULL) return -1;
    bin_job_t jobs[MAX_THREADS];
    for (int t = 0; t < used; t++) {
        int64_t s = t * per, e = s + per < n ? s + per : n;
        bin_job_t job = {fn, (const char *)p + (size_t)s * item_size(kind), e - s, nbins, a,
                         scale, tables + (size_t)t * BIN_WAYS * (size_t)nbins};
        jobs[t] = job;
    }
    run_all(jobs, sizeof *jobs, used, run_bin_job);
    for (int64_t w = 0; w < (int64_t)used * BIN_WAYS; w++)
        for (int64_t b = 0; b < nbins; b++) counts[b] += tables[w * nbins + b];
    free(tables);
    return 0;
}

/* ---- strided views ------------------------------------------------------------------ */

typedef struct {
    int kind;
    const char *p;
    int64_t cols, row_stride, col_stride; /* strides in elements */
    int64_t start, end;                   /* the logical (row-major) elements of this job */
    char *dst;                            /* where element `start` goes, or NULL */
    double center, top, tiny;
    double out[F_COUNT];
} strided_job_t;

/* Copy the job's logical elements [start, end) to `dst`, row-major. */
static void gather_range(const strided_job_t *g, int64_t start, int64_t end, char *dst) {
    size_t size = item_size(g->kind);
    int64_t i = start;
    while (i < end) {
        int64_t row = i / g->cols, col = i % g->cols;
        int64_t take = g->cols - col < end - i ? g->cols - col : end - i;
        const char *src = g->p + (size_t)(row * g->row_stride + col * g->col_stride) * size;
        if (g->col_stride == 1) {
            memcpy(dst, src, (size_t)take * size);
        } else {
            size_t step = (size_t)g->col_stride * size;
            for (int64_t k = 0; k < take; k++) /* (size is 2, 4 or 8: the compiler inlines) */
                memcpy(dst + (size_t)k * size, src + (size_t)k * step, size);
        }
        dst += (size_t)take * size;
        i += take;
    }
}

/* Gather the job's values (into dst, or chunk by chunk into a buffer on the stack) and
 * reduce each piece while it is in this thread's cache. */
static void *run_strided_job(void *arg) {
    strided_job_t *job = (strided_job_t *)arg;
    if (job->dst != NULL) {
        gather_range(job, job->start, job->end, job->dst);
        reduce_range(job->kind, job->dst, job->end - job->start, job->center, job->top,
                     job->tiny, job->out);
        return NULL;
    }
    double chunk_row[F_COUNT], buf[CHUNK]; /* (CHUNK doubles hold CHUNK values of any kind) */
    init_row(job->out);
    for (int64_t s = job->start; s < job->end; s += CHUNK) {
        int64_t e = s + CHUNK < job->end ? s + CHUNK : job->end;
        gather_range(job, s, e, (char *)buf);
        reduce_range(job->kind, buf, e - s, job->center, job->top, job->tiny, chunk_row);
        merge_row(job->out, chunk_row);
    }
    return NULL;
}

/*
 * tp_reduce over the rows x cols view at `p` (element (r, c) at p[r * row_stride + c *
 * col_stride], strides in elements, none negative): a column slice or stepped slice,
 * read without a copy of it. When `dst` is not NULL the values are also left there,
 * contiguous and row-major (the caller samples them): each thread copies its share and
 * reduces it from its cache, where torch's copy_ of such a view cost 3-11x the whole
 * reduction here. Returns 0, or -1 for an unknown kind or a negative size or stride.
 */
int tp_reduce_strided(int kind, const void *p, int64_t rows, int64_t cols, int64_t row_stride,
                      int64_t col_stride, double center, double top, double tiny,
                      int threads, void *dst, double *out) {
    if (kind < K_F32 || kind > K_F16 || rows < 0 || cols < 0 || row_stride < 0 ||
        col_stride < 0)
        return -1;
    int64_t n = rows * cols;
    if (threads < 1) threads = 1;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    int64_t per = (n + threads - 1) / threads;
    per = (per + CHUNK - 1) / CHUNK * CHUNK;
    if (per == 0) per = CHUNK;
    size_t size = item_size(kind);
    strided_job_t jobs[MAX_THREADS];
    int used = 0;
    for (int64_t s = 0; s < n || used == 0; s += per) {
        int64_t e = s + per < n ? s + per : n;
        strided_job_t job = {kind, (const char *)p, cols, row_stride, col_stride, s, e,
                             dst == NULL ? NULL : (char *)dst + (size_t)s * size,
                             center, top, tiny, {0}};
        jobs[used++] = job;
        if (e >= n) break;
    }
    run_all(jobs, sizeof *jobs, used, run_strided_job);
    init_row(out);
    for (int t = 0; t < used; t++) merge_row(out, jobs[t].out);
    return 0;
}

/* ---- sum of squares: the hooks' non-finite screen ------------------------------------ */

/* The sum of the squares of `n` values: finite iff every value is, barring an overflow of
 * a float32 lane (float32, bfloat16 and float16 values beyond about 1e18 in magnitude),
 * which only sends the tensor to the exact test. Lanes of the value type within a chunk,
 * float64 across chunks: a few times faster than torch.dot's float32 (one thread, values
 * in cache), and closer to the float64 sum. */
#define SQ_LANES 32
#define DEFINE_SUMSQ(NAME, VT, LOAD)                                                          \
    TP_VECTOR static double NAME(const void *p, int64_t n) {                                  \
        double total = 0.0;                                                                   \
        int64_t i = 0;                                                                        \
        for (; i + CHUNK <= n; i += CHUNK) {                                                  \
            VT acc[SQ_LANES];                                                                 \
            for (int j = 0; j < SQ_LANES; j++) acc[j] = 0;                                    \
            for (int64_t k = i; k < i + CHUNK; k += SQ_LANES)                                 \
                for (int j = 0; j < SQ_LANES; j++) {                                          \
                    VT v = (VT)LOAD(p, k + j);                                                \
                    acc[j] += v * v;                                                          \
                }                                                                             \
            for (int j = 0; j < SQ_LANES; j++) total += (double)acc[j];                       \
        }                                                                                     \
        for (; i < n; i++) {                                                                  \
            double v = (double)LOAD(p, i);                                                    \
            total += v * v;                                                                   \
        }                                                                                     \
        return total;                                                                         \
    }

DEFINE_SUMSQ(sumsq_f32, float, load_f32)
DEFINE_SUMSQ(sumsq_f64, double, load_f64)
DEFINE_SUMSQ(sumsq_bf16, float, load_bf16)
DEFINE_SUMSQ(sumsq_f16, float, load_f16)

typedef double (*sumsq_fn)(const void *, int64_t);

typedef struct {
    sumsq_fn fn;
    const void *p;
    int64_t n;
    double out;
} sumsq_job_t;

static void *run_sumsq_job(void *arg) {
    sumsq_job_t *job = (sumsq_job_t *)arg;
    job->out = job->fn(job->p, job->n);
    return NULL;
}

/*
 * The sum of the squares of the `n` values of kind `kind` at `p`, using up to `threads`
 * threads (the calling one and threads - 1 more, joined before returning). NaN for an
 * unknown kind or a negative n.
 */
double tp_sumsq(int kind, const void *p, int64_t n, int threads) {
    sumsq_fn fn = kind == K_F32    ? sumsq_f32
                  : kind == K_F64  ? sumsq_f64
                  : kind == K_BF16 ? sumsq_bf16
                  : kind == K_F16  ? sumsq_f16
                                   : NULL;
    if (fn == NULL || n < 0) return NAN;
    if (threads <= 1 || n < 2 * CHUNK) return fn(p, n);
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    int64_t per = (n + threads - 1) / threads;
    per = (per + CHUNK - 1) / CHUNK * CHUNK;
    sumsq_job_t jobs[MAX_THREADS];
    int used = 0;
    for (int64_t s = 0; s < n; s += per) {
        int64_t e = s + per < n ? s + per : n;
        sumsq_job_t job = {fn, (const char *)p + (size_t)s * item_size(kind), e - s, 0.0};
        jobs[used++] = job;
    }
    run_all(jobs, sizeof *jobs, used, run_sumsq_job);
    double total = 0.0;
    for (int t = 0; t < used; t++) total += jobs[t].out;
    return total;
}
