/* ex7_two_vars.c - the tutorial's example 6 (例 6): z = (x + 2y)^2, whose
 * partial derivatives are dz/dx = 2(x + 2y) and dz/dy = 4(x + 2y).
 *
 *   x = Variable(torch.Tensor([1]), requires_grad=True)
 *   y = Variable(torch.Tensor([2]), requires_grad=True)
 *   z = (x + 2 * y) ** 2
 *   z.backward()
 *   print(x.grad)  # dz/dx                       tensor([10.])
 *   print(y.grad)  # dz/dy                       tensor([20.])
 *
 * Prints each gradient autograd computes beside the formula's value and exits
 * with status 1 if any disagree. */
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
    const int64_t shape[1] = {1};                /* torch.Tensor([1]) has shape (1,) */
    ag_tape *t = ag_tape_new();
    ag_tensor *x = ag_tensor_new(1, shape, (const float[]){1.0f}, true);
    ag_tensor *y = ag_tensor_new(1, shape, (const float[]){2.0f}, true);

    /* z = (x + 2 * y) ** 2 */
    ag_tensor *z = ag_pow(t, ag_add(t, x, ag_mul_scalar(t, y, 2.0f)), 2.0f);
    ag_backward(t, z);                           /* z.backward() */

    int rc = 1;
    if (ag_tape_status(t) != AG_OK) {            /* one check for the whole chain */
        fprintf(stderr, "%s\n", ag_tape_error(t));
    } else {
        const double u = ag_item(x) + 2.0 * ag_item(y);   /* x + 2y */
        printf("z = (x + 2*y)**2 at x = 1, y = 2\n");
        rc = report("dz/dx", ag_grad(x), "2(x + 2y)", 2.0 * u);
        rc |= report("dz/dy", ag_grad(y), "4(x + 2y)", 4.0 * u);
    }
    ag_tape_free(t);                             /* frees z and every intermediate */
    ag_tensor_free(x);
    ag_tensor_free(y);
    return rc;
}
