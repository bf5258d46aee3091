// The tensor emitter: streams each tensor's rows from its reader through the
// quantizer into a GGUF writer. Memory stays near KV_EMIT_CHUNK_BYTES of F32
// rows plus their quantized copy, whatever the model's size.
#define _POSIX_C_SOURCE 200809L
#include "pipeline/pipeline_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kvant/kv_quant.h"
#include "kvant/kv_threadpool.h"
#include "kvant/kv_types.h"

#define KV_EMIT_CHUNK_BYTES ((size_t)32 << 20) // F32 rows read per step
#define KV_EMIT_STEP_BYTES ((size_t)256 << 10) // F32 rows a thread reads and quantizes at once

typedef struct {
    const kv__emit_tensor *read; // when set, the job reads its own rows first
    int64_t row0;                // into src, starting at this row of the tensor
    uint32_t type;
    float *src;
    uint8_t *dst;
    int64_t n_rows;
    int64_t n_per_row;
    const float *imatrix;
    kv_status st;
    kv_err err;
} quant_job;

static void *quant_worker(void *arg) {
    quant_job *j = (quant_job *)arg;
    j->st = KV_OK;
    if (!j->read) {
        j->st = kv_quant_rows((kv_type)j->type, j->src, j->dst, j->n_rows, j->n_per_row,
                              j->imatrix, &j->err);
        return NULL;
    }
    // Read a few rows, quantize them while they are still in cache, go on: the
    // F32 rows then cross the memory bus once instead of three times (written,
    // checked, quantized). Rows are quantized independently, so the bytes are
    // the same as in one call.
    const size_t row_f32 = (size_t)j->n_per_row * sizeof(float);
    const size_t row_q = kv_type_row_size((kv_type)j->type, j->n_per_row);
    int64_t step = (int64_t)(KV_EMIT_STEP_BYTES / row_f32);
    if (step < 1)
        step = 1;
    for (int64_t r = 0; r < j->n_rows && j->st == KV_OK; r += step) {
        const int64_t nr = j->n_rows - r < step ? j->n_rows - r : step;
        float *src = j->src + r * j->n_per_row;
        j->st = j->read->read_rows(j->read->ctx, j->row0 + r, nr, src, &j->err);
        if (j->st != KV_OK)
            break;
        j->st = kv_quant_rows((kv_type)j->type, src, j->dst + (size_t)r * row_q, nr,
                              j->n_per_row, j->imatrix, &j->err);
        if (j->st != KV_OK) { // say which rows of the tensor its row numbers count from
            char where[64];
            snprintf(where, sizeof where, "rows %lld..%lld", (long long)(j->row0 + r),
                     (long long)(j->row0 + r + nr - 1));
            kv_err_prefix(&j->err, where);
        }
    }
    return NULL;
}

// Quantizes n_rows rows split into contiguous ranges, one per thread. With read
// set (a reader safe to call from several threads), each thread reads its own
// range, rows row0.., into src, a few rows at a time between quantizing them:
// the F16 -> F32 step runs in parallel too.
static kv_status quant_parallel(const kv__emit_tensor *read, int64_t row0, uint32_t type,
                                float *src, uint8_t *dst, int64_t n_rows, int64_t n_per_row,
                                const float *imatrix, int n_threads, kv_err *err) {
    if (n_threads > n_rows)
        n_threads = (int)n_rows;
    if (n_threads < 1)
        n_threads = 1;
    size_t row_size = kv_type_row_size((kv_type)type, n_per_row);
    // one job per thread (n_threads <= KV_THREADPOOL_MAX_THREADS: kv_threads_resolve)
    quant_job *jobs = calloc((size_t)n_threads, sizeof *jobs);
    pthread_t *tids = calloc((size_t)n_threads, sizeof *tids);
    bool *started = calloc((size_t)n_threads, sizeof *started);
    if (!jobs || !tids || !started) {
        free(jobs);
        free(tids);
        free(started);
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for %d quantization jobs", n_threads);
    }
    int64_t per = n_rows / n_threads, extra = n_rows % n_threads, r0 = 0;
    for (int i = 0; i < n_threads; i++) {
        int64_t nr = per + (i < extra ? 1 : 0);
        jobs[i] = (quant_job){read, row0 + r0, type, src + r0 * n_per_row,
                              dst + (size_t)r0 * row_size, nr, n_per_row, imatrix, KV_OK, {0}};
        r0 += nr;
        if (i > 0 && pthread_create(&tids[i], NULL, quant_worker, &jobs[i]) == 0)
            started[i] = true;
        else if (i > 0)
            quant_worker(&jobs[i]); // could not start a thread: do it here
    }
    quant_worker(&jobs[0]);
    kv_status st = KV_OK;
    for (int i = 0; i < n_threads; i++) {
        if (started[i])
            pthread_join(tids[i], NULL);
        if (st == KV_OK && jobs[i].st != KV_OK) {
            st = jobs[i].st;
            if (err)
                *err = jobs[i].err;
        }
    }
    free(jobs);
    free(tids);
    free(started);
    return st;
}

static int64_t n_rows_of(const kv__emit_tensor *t) {
    int64_t n = 1;
    for (uint32_t d = 1; d < t->n_dims; d++)
        n *= t->ne[d];
    return n;
}

// Streams one tensor's rows: read a chunk, quantize it, write it.
static kv_status emit_rows(kv_gguf_writer *w, const kv__emit_tensor *t, int n_threads,
                           float **f32_buf, size_t *f32_cap, uint8_t **q_buf, size_t *q_cap,
                           kv_err *err) {
    int64_t n_per_row = t->ne[0], n_rows = n_rows_of(t);
    size_t row_f32 = (size_t)n_per_row * sizeof(float);
    size_t row_q = kv_type_row_size((kv_type)t->dst_type, n_per_row);
    int64_t chunk = row_f32 ? (int64_t)(KV_EMIT_CHUNK_BYTES / row_f32) : 1;
    if (chunk < 1)
        chunk = 1;
    if (chunk > n_rows)
        chunk = n_rows;
    if ((size_t)chunk * row_f32 > *f32_cap) {
        free(*f32_buf);
        *f32_cap = (size_t)chunk * row_f32;
        *f32_buf = malloc(*f32_cap);
    }
    if ((size_t)chunk * row_q > *q_cap) {
        free(*q_buf);
        *q_cap = (size_t)chunk * row_q;
        *q_buf = malloc(*q_cap);
    }
    if (!*f32_buf || !*q_buf) {
        *f32_cap = *q_cap = 0;
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for tensor '%s' (%lld rows per chunk)",
                       t->name, (long long)chunk);
    }
    for (int64_t r = 0; r < n_rows; r += chunk) {
        int64_t nr = n_rows - r < chunk ? n_rows - r : chunk;
        kv_status st = KV_OK;
        if (t->read_raw) // bytes already in the destination type (an exact transcode)
            st = t->read_raw(t->ctx, r, nr, *q_buf, err);
        else {
            if (!t->read_mt)
                st = t->read_rows(t->ctx, r, nr, *f32_buf, err);
            if (st == KV_OK)
                st = quant_parallel(t->read_mt ? t : NULL, r, t->dst_type, *f32_buf, *q_buf, nr,
                                    n_per_row, t->imatrix, n_threads, err);
        }
        if (st == KV_OK)
            st = kv_gguf_writer_write(w, *q_buf, (size_t)nr * row_q, err);
        if (st != KV_OK) {
            if (err && !strstr(err->msg, t->name))
                kv_err_prefix(err, t->name);
            return st;
        }
    }
    return KV_OK;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static kv_status fill_report(kv_convert_report *rep, const kv__emit_tensor *ts, int64_t n,
                             const kv_gguf_writer *w, kv_err *err) {
    memset(rep, 0, sizeof *rep);
    rep->tensors = calloc((size_t)(n > 0 ? n : 1), sizeof *rep->tensors);
    if (!rep->tensors)
        return KV_FAIL(err, KV_ERR_NOMEM, "out of memory for the conversion report");
    rep->n_tensors = n;
    for (int64_t i = 0; i < n; i++) {
        kv_convert_tensor *r = &rep->tensors[i];
        const kv__emit_tensor *t = &ts[i];
        snprintf(r->name, sizeof r->name, "%s", t->name);
        r->n_dims = t->n_dims;
        memcpy(r->ne, t->ne, sizeof r->ne);
        r->from_type = t->src_type;
        r->to_type = t->dst_type;
        r->bytes = kv_gguf_writer_tensor_size(w, i);
        r->fallback = t->fallback;
        r->mlx = t->mlx;
        r->mlx_bits = t->mlx_bits;
        r->mlx_group = t->mlx_group;
        r->mlx_why = t->mlx_why;
        r->wanted_type = t->wanted_type;
        uint64_t ne = 1;
        for (uint32_t d = 0; d < t->n_dims; d++)
            ne *= (uint64_t)t->ne[d];
        rep->n_params += ne;
        rep->bytes_out += r->bytes;
        rep->bytes_in += t->mlx ? t->src_size // an MLX layer: its packed values
                                : kv_type_row_size((kv_type)t->src_type, t->ne[0]) *
                                      (uint64_t)n_rows_of(t);
        rep->n_fallbacks += t->fallback ? 1 : 0;
    }
    rep->file_size = kv_gguf_writer_file_size(w);
    return KV_OK;
}

kv_status kv__emit_gguf(kv_gguf_writer *w, const char *out_path, const kv__emit_tensor *ts,
                        int64_t n, int n_threads, kv_progress_fn progress, void *progress_user,
                        kv_convert_report *report, kv_err *err) {
    double t0 = now_s();
    kv_status st = kv_threads_resolve(n_threads, "threads", &n_threads, err);
    if (st != KV_OK)
        return st;
    for (int64_t i = 0; i < n && st == KV_OK; i++)
        st = kv_gguf_add_tensor(w, ts[i].name, ts[i].dst_type, ts[i].n_dims, ts[i].ne, err);
    if (st == KV_OK)
        st = kv_gguf_writer_begin(w, out_path, err);
    if (st != KV_OK)
        return st;
    float *f32_buf = NULL;
    uint8_t *q_buf = NULL;
    size_t f32_cap = 0, q_cap = 0;
    uint64_t total = 0, done = 0;
    for (int64_t i = 0; i < n; i++)
        total += kv_gguf_writer_tensor_size(w, i);
    for (int64_t i = 0; i < n && st == KV_OK; i++) {
        const kv__emit_tensor *t = &ts[i];
        if (progress)
            progress(progress_user, done, total, t->name);
        if (t->raw && t->dst_type == t->src_type)
            st = kv_gguf_writer_write(w, t->raw, kv_gguf_writer_tensor_size(w, i), err);
        else
            st = emit_rows(w, t, n_threads, &f32_buf, &f32_cap, &q_buf, &q_cap, err);
        done += kv_gguf_writer_tensor_size(w, i);
        kv_map_release(t->src_data, t->src_size);
    }
    free(f32_buf);
    free(q_buf);
    if (st == KV_OK)
        st = kv_gguf_writer_finish(w, err);
    if (st == KV_OK && progress)
        progress(progress_user, total, total, "done");
    if (st == KV_OK && report) {
        st = fill_report(report, ts, n, w, err);
        report->seconds = now_s() - t0;
    }
    return st;
}

void kv_convert_report_free(kv_convert_report *r) {
    if (!r)
        return;
    free(r->tensors);
    memset(r, 0, sizeof *r);
}
