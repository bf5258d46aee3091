// Reference matrix product driver: each weight row is taken once and multiplied
// with every activation row, so it stays in cache across the batch. The caller
// splits output rows between threads; each output element is one vec_dot call,
// so results do not depend on the split.
#include "kernels/kernels.h"

// w rows [o0, o1) of (n_out, n_in) @ x (n_rows, n_in) -> y[:, o0:o1]
void kv_matmul_ref(const kv_kernels *k, const kv_matmul_args *a, int64_t o0, int64_t o1) {
    const kv_vec_dot_fn dot = k->types[a->w_type].vec_dot;
    const uint8_t *w = a->w;
    const uint8_t *x = a->x;
    for (int64_t o = o0; o < o1; o++) {
        const uint8_t *w_row = w + (size_t)o * a->w_row_size;
        for (int64_t r = 0; r < a->n_rows; r++)
            dot(a->n_in, &a->y[r * a->y_stride + o], w_row, x + (size_t)r * a->x_row_size);
    }
}
