/* ex8_linear_mse.c - the tutorial's loss notebook: a Linear(3,2) layer on a
 * (5,3) batch, MSELoss, backward, the gradients dL/dw and dL/db, then one SGD
 * step (lr 0.01) done by hand (w - 0.01 * grad) and by the optimizer, which
 * must agree.
 *
 *   linear = nn.Linear(3, 2)                       # w, b: the tutorial's printed values
 *   criterion = nn.MSELoss()
 *   optimizer = torch.optim.SGD(linear.parameters(), lr=0.01)
 *   loss = criterion(linear(x), y); loss.backward()
 *   print(linear.weight.sub(0.01 * linear.weight.grad))   # by hand
 *   optimizer.step(); print(linear.weight)                 # by the optimizer
 *
 * The tutorial's x and y are random and unprinted, so fixed values stand in
 * (the same as examples/expected/gen_expected.py's, whose PyTorch output is
 * examples/expected/ex8_linear_mse.txt). Exits 1 if by hand and by the
 * optimizer differ. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "autograd.h"

static const float W[2][3] = { { 0.3974f, -0.1892f, -0.2784f }, { 0.3327f, -0.3742f, 0.5401f } };
static const float B[2] = { -0.5308f, -0.5098f };
static const float X[5][3] = { { 0.5410f, -0.2934f, -2.1788f }, { 0.5684f, -1.0845f, -1.3986f },
                               { 0.4033f, 0.8380f, -0.7193f },  { -0.4033f, -0.5966f, 0.1820f },
                               { -0.8567f, 1.1006f, -1.0712f } };
static const float Y[5][2] = { { 0.1227f, -0.5663f }, { 0.3731f, -0.8920f }, { -1.5091f, 0.3704f },
                               { 1.4565f, 0.9398f },  { 0.7748f, 0.1919f } };

/* torch.allclose(a, b, rtol=1e-6, atol=1e-7) */
static int allclose(const ag_tensor *a, const ag_tensor *b)
{
    for (int64_t i = 0; i < ag_numel(a); i++) {
        const float x = ag_data((ag_tensor *)a)[i], y = ag_data((ag_tensor *)b)[i];
        if (!(fabsf(x - y) <= 1e-7f + 1e-6f * fabsf(y)))
            return 0;
    }
    return 1;
}

int main(void)
{
    const int64_t xs[2] = { 5, 3 }, ys[2] = { 5, 2 };
    ag_rng rng;
    ag_rng_seed(&rng, 0);
    ag_linear *linear = ag_linear_new(3, 2, true, &rng);   /* nn.Linear(3, 2) */
    ag_tensor *w = ag_linear_weight(linear), *b = ag_linear_bias(linear);
    memcpy(ag_data(w), W, sizeof W);                       /* load the tutorial's values */
    memcpy(ag_data(b), B, sizeof B);
    ag_tensor *x = ag_tensor_new(2, xs, &X[0][0], false);
    ag_tensor *y = ag_tensor_new(2, ys, &Y[0][0], false);
    ag_tensor *params[2];
    ag_sgd_opts so = ag_sgd_defaults(0.01f);
    ag_optim *optimizer = ag_sgd_new(ag_linear_params(linear, params), params, &so);
    ag_tape *t = ag_tape_new();

    printf("Linear(3,2) on a (5,3) batch, MSELoss, one SGD step with lr 0.01\n");
    printf("w: Parameter containing:\n");
    ag_print(w);
    printf("b: Parameter containing:\n");
    ag_print(b);
    ag_tensor *loss = ag_mse_loss(t, ag_linear_forward(t, linear, x), y, AG_REDUCTION_MEAN);
    printf("loss: ");
    ag_print(loss);
    ag_backward(t, loss);
    printf("dL/dw: ");
    ag_print(ag_grad(w));
    printf("dL/db: ");
    ag_print(ag_grad(b));

    printf("*** by hand\n");
    ag_tensor *hw = ag_sub(t, w, ag_mul_scalar(t, ag_grad(w), 0.01f));
    ag_tensor *hb = ag_sub(t, b, ag_mul_scalar(t, ag_grad(b), 0.01f));
    ag_print(hw);
    ag_print(hb);
    int rc = 1;
    if (ag_tape_status(t) != AG_OK || !optimizer) {   /* one check for everything above */
        fprintf(stderr, "%s\n", optimizer ? ag_tape_error(t) : ag_last_error());
    } else {
        ag_optim_step(optimizer);
        printf("*** by optimizer.step()\n");
        printf("Parameter containing:\n");
        ag_print(w);
        printf("Parameter containing:\n");
        ag_print(b);
        const int same = allclose(hw, w) && allclose(hb, b);
        printf("by hand == by optimizer.step(): %s\n", same ? "True" : "False");
        rc = !same;
    }
    ag_tape_free(t);
    ag_optim_free(optimizer);
    ag_linear_free(linear);
    ag_tensor_free(x);
    ag_tensor_free(y);
    return rc;
}
