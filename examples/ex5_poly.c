/* ex5_poly.c - the tutorial's example 4 (例 4):
 * y = (x - 4)(x^2 + 6), dy/dx = 3x^2 - 8x + 6.
 *
 *   x = Variable(torch.Tensor([0]), requires_grad=True)
 *   y = (x - 4) * (x ** 2 + 6)
 *   y.backward()
 *   print(x.grad)                               # tensor([6.])
 *
 * Prints the gradient autograd computes beside the formula's value and exits
 * with status 1 if they disagree. */
#include <math.h>
#include <stdio.h>
#include "autograd.h"

/* Prints "<name> (autograd):" and the gradient, then "<name> (formula <f>):"
 * and the formula's value, both as PyTorch prints them. Returns 0 if the two
 * agree to 1e-5 relative, 1 otherwise. */
static int report(const char *name, const ag_tensor *grad, const char *formula, double value)
{
    const int64_t shape[1] = {1};
    const float v = (float)value;
    ag_tensor *f = ag_tensor_new(1, shape, &v, false);

    printf("%s (autograd):\n", name);
    ag_print(grad);
    printf("%s (formula %s):\n", name, formula);
    ag_print(f);
    ag_tensor_free(f);

    const double got = ag_item(grad);            /* NaN if grad is NULL */
    if (!(fabs(got - value) <= 1e-5 * fabs(value))) {
        fprintf(stderr, "%s: autograd gives %.9g, the formula %.9g\n", name, got, value);
        return 1;
    }
    return 0;
}

int main(void)
{
    const int64_t shape[1] = {1};                /* torch.Tensor([0]) has shape (1,) */
    ag_tape *t = ag_tape_new();
    ag_tensor *x = ag_tensor_new(1, shape, (const float[]){0.0f}, true);

    /* y = (x - 4) * (x ** 2 + 6): x is used twice, autograd adds both paths */
    ag_tensor *y = ag_mul(t, ag_sub_scalar(t, x, 4.0f),
                          ag_add_scalar(t, ag_pow(t, x, 2.0f), 6.0f));
    ag_backward(t, y);                           /* y.backward() */

    int rc = 1;
    if (ag_tape_status(t) != AG_OK) {            /* one check for the whole chain */
        fprintf(stderr, "%s\n", ag_tape_error(t));
    } else {
        const double xv = ag_item(x);
        printf("y = (x - 4) * (x**2 + 6) at x = 0\n");
        rc = report("dy/dx", ag_grad(x), "3x^2 - 8x + 6", 3.0 * xv * xv - 8.0 * xv + 6.0);
    }
    ag_tape_free(t);                             /* frees y and every intermediate */
    ag_tensor_free(x);
    return rc;
}
