/* ex4_sin.c - the tutorial's example 3 (例 3): y = sin(x), dy/dx = cos(x).
 *
 *   x = Variable(torch.Tensor([np.pi]), requires_grad=True)
 *   y = torch.sin(x)
 *   y.backward()
 *   print(x.grad)                               # tensor([-1.])
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
    const int64_t shape[1] = {1};                /* torch.Tensor([np.pi]) has shape (1,) */
    const float pi = 3.14159265358979323846f;    /* np.pi rounded to float32 */
    ag_tape *t = ag_tape_new();
    ag_tensor *x = ag_tensor_new(1, shape, &pi, true);

    ag_tensor *y = ag_sin(t, x);                 /* y = torch.sin(x) */
    ag_backward(t, y);                           /* y.backward() */

    int rc = 1;
    if (ag_tape_status(t) != AG_OK) {            /* one check for the whole chain */
        fprintf(stderr, "%s\n", ag_tape_error(t));
    } else {
        const double xv = ag_item(x);
        printf("y = sin(x) at x = pi\n");
        rc = report("dy/dx", ag_grad(x), "cos(x)", cos(xv));
    }
    ag_tape_free(t);
    ag_tensor_free(x);
    return rc;
}
