/* ex2_square.c - the tutorial's example 1 (例 1): y = x^2, dy/dx = 2x.
 *
 *   x = Variable(torch.Tensor([2]), requires_grad=True)
 *   y = x ** 2
 *   y.backward()
 *   print(x.grad)                               # tensor([4.])
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
    const int64_t shape[1] = {1};                /* torch.Tensor([2]) has shape (1,) */
    ag_tape *t = ag_tape_new();
    ag_tensor *x = ag_tensor_new(1, shape, (const float[]){2.0f}, true);

    ag_tensor *y = ag_pow(t, x, 2.0f);           /* y = x ** 2 */
    ag_backward(t, y);                           /* y.backward() */

    int rc = 1;
    if (ag_tape_status(t) != AG_OK) {            /* one check for the whole chain */
        fprintf(stderr, "%s\n", ag_tape_error(t));
    } else {
        const double xv = ag_item(x);
        printf("y = x**2 at x = 2\n");
        rc = report("dy/dx", ag_grad(x), "2x", 2.0 * xv);
    }
    ag_tape_free(t);                             /* frees y */
    ag_tensor_free(x);                           /* and x.grad with it */
    return rc;
}
