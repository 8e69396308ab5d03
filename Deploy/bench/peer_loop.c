/*
 * Timing loops for predict_peers.py: call a library's single-row predict
 * entry point once per row from C, so a pass over the rows costs no Python
 * per row. predict_peers.py compiles this file with gcc into a throw-away
 * shared library, hands it the library's function pointer and handles through
 * ctypes, and calls each loop once per timed pass.
 *
 * Every loop sweeps `n` rows `repeats` times, one call per row, and writes the
 * outputs of each row (`stride` values) to `out`, so the last sweep leaves the
 * predictions there for checking. It returns the elapsed nanoseconds, or a
 * negative number if the library reported an error.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <string.h>
#include <time.h>

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* XGBoosterPredictFromDense(handle, array_interface, config, proxy, &shape, &dim, &result) */
typedef int (*xgb_dense_fn)(void *handle, const char *array_interface, const char *config, void *proxy,
                            const uint64_t **out_shape, uint64_t *out_dim, const float **out_result);

/* One prebuilt array-interface string per row (each points at that row's float32 values). */
int64_t loop_xgb_dense(void *fn, void *handle, const char *const *interfaces, const char *config,
                       int n, int repeats, int stride, double *out) {
    xgb_dense_fn predict = (xgb_dense_fn)fn;
    const uint64_t *shape;
    uint64_t dim;
    const float *result;
    int64_t start = now_ns();
    for (int k = 0; k < repeats; k++) {
        for (int r = 0; r < n; r++) {
            int rc = predict(handle, interfaces[r], config, NULL, &shape, &dim, &result);
            if (rc != 0) return -1;
            for (int j = 0; j < stride; j++) out[(size_t)r * stride + j] = result[j];
        }
    }
    return now_ns() - start;
}

/* LGBM_BoosterPredictForMatSingleRowFast(fast_config, row, &out_len, out_result) */
typedef int (*lgb_fast_fn)(void *fast_config, const void *data, int64_t *out_len, double *out_result);

/* `rows` holds n rows of `f` doubles (the data type given to ...FastInit). */
int64_t loop_lgb_fast(void *fn, void *fast_config, const double *rows, int n, int f, int repeats, int stride,
                      double *out) {
    lgb_fast_fn predict = (lgb_fast_fn)fn;
    int64_t len;
    int64_t start = now_ns();
    for (int k = 0; k < repeats; k++) {
        for (int r = 0; r < n; r++) {
            if (predict(fast_config, rows + (size_t)r * f, &len, out + (size_t)r * stride) != 0) return -1;
        }
    }
    return now_ns() - start;
}

/* TL2cgen's generated `void predict(union Entry* data, int pred_margin, <leaf type>* result)`:
 * it adds into `result`, which therefore starts at zero on every call. */
typedef void (*tl_fn_f32)(void *data, int pred_margin, float *result);
typedef void (*tl_fn_f64)(void *data, int pred_margin, double *result);

#define TL_MAX_OUT 256

/* `entries` holds n rows of `row_bytes` bytes each (`union Entry` per feature). */
int64_t loop_tl2cgen(void *fn, int leaf_is_double, const char *entries, int64_t row_bytes, int n, int repeats,
                     int stride, double *out) {
    if (stride > TL_MAX_OUT) return -2;
    float resf[TL_MAX_OUT];
    double resd[TL_MAX_OUT];
    int64_t start = now_ns();
    for (int k = 0; k < repeats; k++) {
        for (int r = 0; r < n; r++) {
            void *row = (void *)(entries + (size_t)r * row_bytes);
            double *o = out + (size_t)r * stride;
            if (leaf_is_double) {
                memset(resd, 0, sizeof(double) * stride);
                ((tl_fn_f64)fn)(row, 0, resd);
                for (int j = 0; j < stride; j++) o[j] = resd[j];
            } else {
                memset(resf, 0, sizeof(float) * stride);
                ((tl_fn_f32)fn)(row, 0, resf);
                for (int j = 0; j < stride; j++) o[j] = resf[j];
            }
        }
    }
    return now_ns() - start;
}
