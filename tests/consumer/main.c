/* main.c - a user's program: the gradient of x^2 at 3, and the library's
 * version; exits 1 if either is wrong (tests/consumer/CMakeLists.txt). */
#include <stdio.h>
#include <string.h>

#include <autograd.h>

#if !defined(AG_VERSION) || AG_VERSION < 200
#error "autograd.h is older than 0.2.0"
#endif

int main(void) {
    ag_tape *t = ag_tape_new();
    ag_tensor *x = ag_scalar(3.0f, true);
    ag_tensor *y = ag_pow(t, x, 2.0f);               /* y = x^2 */
    ag_backward(t, y);
    if (ag_tape_status(t) != AG_OK) {
        fprintf(stderr, "consumer: %s\n", ag_tape_error(t));
        return 1;
    }
    float dx = ag_data(ag_grad(x))[0];               /* dy/dx = 2x = 6 */
    printf("libautograd %s (header %s): d(x^2)/dx at 3 = %g\n", ag_version(),
           AG_VERSION_STRING, (double)dx);
    int ok = dx == 6.0f && strcmp(ag_version(), AG_VERSION_STRING) == 0;
    ag_tape_free(t);
    ag_tensor_free(x);
    if (!ok) {
        fprintf(stderr, "consumer: wrong gradient or a header that does not match the library\n");
        return 1;
    }
    return 0;
}
