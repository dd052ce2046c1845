/* ex1_linear.c - the tutorial's first cell: y = w*x + b, whose gradients are
 * dy/dx = w, dy/dw = x and dy/db = 1.
 *
 *   x = Variable(torch.Tensor([1]), requires_grad=True)
 *   w = Variable(torch.Tensor([2]), requires_grad=True)
 *   b = Variable(torch.Tensor([2]), requires_grad=True)
 *   y = w*x + b
 *   y.backward()
 *   print(x.grad)  # dy/dx = w = 2               tensor([2.])
 *   print(w.grad)  # dy/dw = x = 1               tensor([1.])
 *   print(b.grad)  # dy/db = 1                   tensor([1.])
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
    ag_tensor *w = ag_tensor_new(1, shape, (const float[]){2.0f}, true);
    ag_tensor *b = ag_tensor_new(1, shape, (const float[]){2.0f}, true);

    ag_tensor *y = ag_add(t, ag_mul(t, w, x), b);   /* y = w*x + b */
    ag_backward(t, y);                              /* y.backward() */

    int rc = 1;
    if (ag_tape_status(t) != AG_OK) {            /* one check for the whole chain */
        fprintf(stderr, "%s\n", ag_tape_error(t));
    } else {
        printf("y = w*x + b at x = 1, w = 2, b = 2\n");
        rc = report("dy/dx", ag_grad(x), "w", ag_item(w));
        rc |= report("dy/dw", ag_grad(w), "x", ag_item(x));
        rc |= report("dy/db", ag_grad(b), "1", 1.0);
    }
    ag_tape_free(t);                             /* frees y and w*x */
    ag_tensor_free(x);                           /* leaves are ours to free */
    ag_tensor_free(w);
    ag_tensor_free(b);
    return rc;
}
