/* Runs tp_reduce over exactly-sized heap blocks of every kind, length and thread count
 * that exercises its lane, chunk and thread splits, with NaN/Inf planted at both ends;
 * built with AddressSanitizer and UBSan by test_kernel_sanitized.py, so any read outside
 * the block or undefined behaviour aborts. Bins them too (tp_bin), and reads them as 2-D
 * strided views (tp_reduce_strided: every other column of n/2 x 2, stepped by 3 in one row,
 * into an exactly-sized copy and through the stack chunks), and takes their sum of squares
 * (tp_sumsq: NaN with the NaN planted, finite without it). Prints how many blocks it
 * checked. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tp_reduce(int kind, const void *p, int64_t n, double center, double top, double tiny,
              int threads, double *out);
int tp_bin(int kind, const void *p, int64_t n, double a, double scale, int64_t nbins,
           int threads, int64_t *counts);
int tp_reduce_strided(int kind, const void *p, int64_t rows, int64_t cols, int64_t row_stride,
                      int64_t col_stride, double center, double top, double tiny,
                      int threads, void *dst, double *out);
double tp_sumsq(int kind, const void *p, int64_t n, int threads);

static const int64_t lengths[] = {0, 1, 15, 16, 17, 4095, 4096, 4097, 12293, 262147, 524305};

int main(void) {
    double out[14];
    long checks = 0;
    for (int kind = 0; kind < 4; kind++) { /* float32, float64, bfloat16, float16 */
        size_t size = kind == 1 ? 8 : (kind == 0 ? 4 : 2);
        for (size_t li = 0; li < sizeof lengths / sizeof *lengths; li++) {
            int64_t n = lengths[li];
            for (int threads = 1; threads <= 3; threads++) {
                unsigned char *buf = malloc(n ? (size_t)n * size : 1);
                int64_t specials = 0;
                for (int64_t i = 0; i < n; i++) {
                    float f = (float)((i * 2654435761u) % 1000) / 100.0f - 5.0f;
                    if (i == 0 || i == n - 1) f = (i == 0) ? NAN : INFINITY;
                    if (kind == 0) memcpy(buf + i * 4, &f, 4);
                    else if (kind == 1) { double d = f; memcpy(buf + i * 8, &d, 8); }
                    else if (kind == 2) { uint32_t b; memcpy(&b, &f, 4); uint16_t h = b >> 16; memcpy(buf + i * 2, &h, 2); }
                    else { /* float16: every bit pattern comes up (subnormals, Inf, NaN) */
                        uint16_t h = (uint16_t)((uint64_t)i * 40503u);
                        memcpy(buf + i * 2, &h, 2);
                        specials += ((h >> 10) & 0x1f) == 31;
                        continue;
                    }
                    specials += (i == 0 || i == n - 1);
                }
                if (tp_reduce(kind, buf, n, 0.5, 65504.0, 6.1e-5, threads, out) != 0) return 2;
                if ((int64_t)out[0] != n - specials) {
                    fprintf(stderr, "kind %d n %lld: finite %f\n", kind, (long long)n, out[0]);
                    return 1;
                }
                int64_t half = n / 2; /* rows of 2 values: the first column is read */
                unsigned char *copy = malloc(half ? (size_t)half * size : 1);
                if (tp_reduce_strided(kind, buf, half, 1, 2, 1, 0.0, 65504.0, 6.1e-5, threads,
                                      copy, out) != 0 ||
                    tp_reduce_strided(kind, buf, half, 1, 2, 1, 0.0, 65504.0, 6.1e-5, threads,
                                      NULL, out) != 0)
                    return 8;
                if (half && memcmp(copy, buf, size) != 0) return 9;
                free(copy);
                int64_t thirds = (n + 2) / 3; /* one row, every third value */
                if (tp_reduce_strided(kind, buf, 1, thirds, 0, 3, 0.0, 65504.0, 6.1e-5, threads,
                                      NULL, out) != 0)
                    return 10;
                /* (float32/64, bfloat16: NaN at 0, Inf at n - 1 when read) */
                int64_t read_specials = n > 0 ? 1 + (n > 1 && (n - 1) % 3 == 0) : 0;
                if (kind != 3 && (int64_t)out[0] != thirds - read_specials) return 11;
                for (int64_t nbins = 1; nbins <= 7; nbins += 6) {
                    int64_t counts[7] = {0}, total = 0;
                    if (tp_bin(kind, buf, n, -5.0, nbins / 10.0, nbins, threads, counts) != 0)
                        return 4;
                    for (int64_t b = 0; b < nbins; b++) total += counts[b];
                    if (total != n - specials) return 5;
                }
                double sq = tp_sumsq(kind, buf, n, threads);
                if (kind != 3 && n > 0 && !isnan(sq)) return 12; /* NaN planted at 0 */
                if (n > 2 && !isfinite(tp_sumsq(kind, buf + size, n - 2, threads)) && kind != 3)
                    return 13; /* the values between the specials are finite */
                if (n == 0 && sq != 0.0) return 14;
                free(buf);
                checks++;
            }
        }
    }
    if (tp_reduce(7, NULL, 0, 0, 0, 0, 1, out) != -1) return 3; /* unknown kind refused */
    if (tp_bin(7, NULL, 0, 0, 1, 4, 1, NULL) != -1) return 6;
    if (tp_bin(0, NULL, 0, 0, 1, 0, 1, NULL) != -1) return 7; /* no bins refused */
    if (tp_reduce_strided(0, NULL, 1, 1, -1, 1, 0, 0, 0, 1, NULL, out) != -1) return 12;
    printf("%ld\n", checks);
    return 0;
}
