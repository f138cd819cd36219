// A layer's weight gradient as one matrix product, for the layers whose oneDNN 2.6 backward-
// weights kernel is slow: dW[m][kh][kw][c] = sum over k of grid[k][m] columns[k][kh][kw][c],
// k running over the batch and the small side's positions (the "grid": a convolution's output,
// a transposed convolution's input) and the columns holding, for each, the patch of the large
// side (the "image": a convolution's input, a transposed convolution's output) that position
// sees. Both sides are copied channels-last first, so a patch row is one run of channels; the
// product is oneDNN's matmul (its brgemm kernel), and the conversion to the caller's weights
// layout adds it to their gradient.
#include "dnnl_common.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mf_weights_product {
    long batch, grid_height, grid_width, image_channels, image_height, image_width;
    long kernel, stride, pad_top, pad_left, element;
    /* grid and product also seen as the matrices of the product (grid_matrix, product_matrix) */
    dnnl_memory_t grid, grid_matrix, image, columns, product, product_matrix, user;
    dnnl_primitive_t grid_reorder, image_reorder, matmul, out;
    char implementation[80];
};

int mf_weights_by_product(const mf_dnnl_layer_shape *s) {
    long grid_positions = s->transposed ? (long)s->height * s->width : (long)s->out_height * s->out_width;
    long image_channels = s->transposed ? s->outputs : s->channels;
    return s->bfloat16 && grid_positions <= 16 && image_channels >= 64;
}

void mf_weights_product_destroy(mf_weights_product *w) {
    if (!w) return;
    dnnl_memory_t memories[] = {w->grid, w->grid_matrix, w->image, w->columns, w->product, w->product_matrix, w->user};
    for (size_t i = 0; i < sizeof memories / sizeof *memories; i++)
        if (memories[i]) dnnl_memory_destroy(memories[i]);
    dnnl_primitive_t primitives[] = {w->grid_reorder, w->image_reorder, w->matmul, w->out};
    for (size_t i = 0; i < sizeof primitives / sizeof *primitives; i++)
        if (primitives[i]) dnnl_primitive_destroy(primitives[i]);
    free(w);
}

mf_weights_product *mf_weights_product_create(const mf_dnnl_layer_shape *s, const dnnl_memory_desc_t *image_md,
                                              const dnnl_memory_desc_t *grid_md, const dnnl_memory_desc_t *user_weights_md) {
    mf_weights_product *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    dnnl_data_type_t type = s->bfloat16 ? dnnl_bf16 : dnnl_f32;
    /* The image is a convolution's input, a transposed convolution's output. */
    long grid_channels = s->transposed ? s->channels : s->outputs;
    *w = (mf_weights_product){
        .batch = s->batch, .kernel = s->kernel, .stride = s->stride, .pad_top = s->pad_top, .pad_left = s->pad_left,
        .grid_height = s->transposed ? s->height : s->out_height, .grid_width = s->transposed ? s->width : s->out_width,
        .image_channels = s->transposed ? s->outputs : s->channels,
        .image_height = s->transposed ? s->out_height : s->height, .image_width = s->transposed ? s->out_width : s->width,
        .element = s->bfloat16 ? 2 : 4};
    long rows = w->batch * w->grid_height * w->grid_width, patch = w->kernel * w->kernel * w->image_channels;
    dnnl_dims_t grid_dims = {w->batch, grid_channels, w->grid_height, w->grid_width};
    dnnl_dims_t image_dims = {w->batch, w->image_channels, w->image_height, w->image_width};
    dnnl_dims_t a_dims = {grid_channels, rows}, b_dims = {rows, patch}, c_dims = {grid_channels, patch};
    dnnl_memory_desc_t grid, image, a, b, c, product;
    dnnl_memory_desc_init_by_tag(&grid, 4, grid_dims, type, dnnl_nhwc);
    dnnl_memory_desc_init_by_tag(&image, 4, image_dims, type, dnnl_nhwc);
    dnnl_memory_desc_init_by_tag(&a, 2, a_dims, type, dnnl_ba); /* the grid channels-last: [k][m] */
    dnnl_memory_desc_init_by_tag(&b, 2, b_dims, type, dnnl_ab);
    dnnl_memory_desc_init_by_tag(&c, 2, c_dims, dnnl_f32, dnnl_ab);
    /* [m][kh][kw][c] as the weights' dims ([outputs, channels, K, K]): a convolution's m is its
       outputs (acdb), a transposed one's its channels (bcda). */
    dnnl_memory_desc_init_by_tag(&product, 4, user_weights_md->dims, dnnl_f32, s->transposed ? dnnl_bcda : dnnl_acdb);
    dnnl_matmul_desc_t matmul;
    dnnl_primitive_desc_t pd = NULL;
    void *grid_data, *product_data;
    int made = dnnl_memory_create(&w->grid, &grid, mf_engine, DNNL_MEMORY_ALLOCATE) == dnnl_success
               && dnnl_memory_get_data_handle(w->grid, &grid_data) == dnnl_success
               && dnnl_memory_create(&w->grid_matrix, &a, mf_engine, grid_data) == dnnl_success
               && dnnl_memory_create(&w->image, &image, mf_engine, DNNL_MEMORY_ALLOCATE) == dnnl_success
               && dnnl_memory_create(&w->columns, &b, mf_engine, DNNL_MEMORY_ALLOCATE) == dnnl_success
               && dnnl_memory_create(&w->product, &product, mf_engine, DNNL_MEMORY_ALLOCATE) == dnnl_success
               && dnnl_memory_get_data_handle(w->product, &product_data) == dnnl_success
               && dnnl_memory_create(&w->product_matrix, &c, mf_engine, product_data) == dnnl_success
               && dnnl_memory_create(&w->user, user_weights_md, mf_engine, NULL) == dnnl_success
               && (w->grid_reorder = mf_make_reorder(grid_md, &grid, 0)) != NULL
               && (w->image_reorder = mf_make_reorder(image_md, &image, 0)) != NULL
               && (w->out = mf_make_reorder(&product, user_weights_md, 1)) != NULL
               && dnnl_matmul_desc_init(&matmul, &a, &b, NULL, &c) == dnnl_success
               && dnnl_primitive_desc_create(&pd, &matmul, NULL, mf_engine, NULL) == dnnl_success
               && dnnl_primitive_create(&w->matmul, pd) == dnnl_success;
    /* A matmul oneDNN runs with its reference loops is no faster road (the caller then keeps
       the backward-weights kernel, or computes the gradient itself). */
    made = made && !mf_is_reference(pd);
    if (made) snprintf(w->implementation, sizeof w->implementation, "matmul %s", mf_implementation(pd));
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (!made) {
        mf_weights_product_destroy(w);
        return NULL;
    }
    return w;
}

const char *mf_weights_product_implementation(const mf_weights_product *w) { return w->implementation; }

typedef struct {
    const mf_weights_product *w;
    const char *image;
    char *columns;
} columns_job;

/// Rows begin ..< end of the columns: row (n, p, q) holds, for each (kh, kw), the image's
/// channels at (n, p stride - pad + kh, q stride - pad + kw), or zeros off the image.
static void fill_columns(void *context, long begin, long end) {
    const columns_job *job = context;
    const mf_weights_product *w = job->w;
    size_t run = (size_t)(w->image_channels * w->element);
    for (long row = begin; row < end; row++) {
        long q = row % w->grid_width, p = row / w->grid_width % w->grid_height, n = row / (w->grid_width * w->grid_height);
        char *out = job->columns + (size_t)row * w->kernel * w->kernel * run;
        for (long kh = 0; kh < w->kernel; kh++) {
            long y = p * w->stride - w->pad_top + kh;
            for (long kw = 0; kw < w->kernel; kw++, out += run) {
                long x = q * w->stride - w->pad_left + kw;
                if (y < 0 || y >= w->image_height || x < 0 || x >= w->image_width) memset(out, 0, run);
                else memcpy(out, job->image + (size_t)((n * w->image_height + y) * w->image_width + x) * run, run);
            }
        }
    }
}

int mf_weights_product_run(mf_weights_product *w, dnnl_memory_t image, dnnl_memory_t grid, float *diff_weights) {
    void *image_data, *columns;
    if (mf_reorder(w->image_reorder, image, w->image) || mf_reorder(w->grid_reorder, grid, w->grid)
        || dnnl_stream_wait(mf_stream) != dnnl_success || dnnl_memory_get_data_handle(w->image, &image_data) != dnnl_success
        || dnnl_memory_get_data_handle(w->columns, &columns) != dnnl_success)
        return 1;
    columns_job job = {w, image_data, columns};
    mf_parallel(fill_columns, &job, w->batch * w->grid_height * w->grid_width);
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, w->grid_matrix}, {DNNL_ARG_WEIGHTS, w->columns},
                               {DNNL_ARG_DST, w->product_matrix}};
    return dnnl_primitive_execute(w->matmul, mf_stream, 3, args) != dnnl_success
           || dnnl_memory_set_data_handle(w->user, diff_weights) != dnnl_success || mf_reorder(w->out, w->product, w->user)
           || dnnl_stream_wait(mf_stream) != dnnl_success;
}
