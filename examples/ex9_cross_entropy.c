/* ex9_cross_entropy.c - the tutorial's CrossEntropyLoss notes, run: the loss
 * of (3,5) logits, the same value from the tutorial's formula
 *     loss(x, class) = -x[class] + log(sum_j exp(x[j])),
 * class weights (the loss becomes weight[class] * (...), and the mean divides
 * by the summed weights), the gradient, and the K-dimensional case
 * (N, C, d1). PyTorch's output for the same data is
 * examples/expected/ex9_cross_entropy.txt. Exits 1 if the library and the
 * formula disagree. */
#include <math.h>
#include <stdio.h>
#include "autograd.h"

static const float X[3][5] = { { 1.2f, -0.3f, 0.5f, 2.1f, -1.0f },
                               { 0.1f, 0.8f, -0.7f, 0.0f, 1.5f },
                               { -1.1f, 0.4f, 0.9f, -0.2f, 0.3f } };
static const int64_t T[3] = { 1, 0, 4 };
static const float W[5] = { 1.0f, 2.0f, 0.5f, 1.0f, 1.0f };
static const float XK[2][3][4] = { { { 0.5f, -1.0f, 2.0f, 0.1f }, { 1.5f, 0.2f, -0.3f, 0.0f },
                                     { -0.5f, 0.7f, 1.0f, -1.2f } },
                                   { { 0.0f, 0.3f, -0.8f, 1.1f }, { -1.4f, 0.9f, 0.4f, 0.6f },
                                     { 0.2f, -0.1f, 1.3f, -0.4f } } };
static const int64_t TK[2][4] = { { 0, 2, 1, 1 }, { 2, 1, 0, 2 } };

/* Prints v as a 0-dim tensor, as print(torch.tensor(v)) does. */
static void print_value(double v)
{
    ag_tensor *s = ag_scalar((float)v, false);
    ag_print(s);
    ag_tensor_free(s);
}

static int agree(const char *what, float lib, double formula)
{
    if (fabs(lib - formula) <= 1e-6 * fabs(formula))
        return 0;
    fprintf(stderr, "%s: the library gives %.9g, the formula %.9g\n", what, lib, formula);
    return 1;
}

int main(void)
{
    const int64_t xs[2] = { 3, 5 }, ws[1] = { 5 }, ks[3] = { 2, 3, 4 };
    ag_tape *t = ag_tape_new();
    ag_tensor *x = ag_tensor_new(2, xs, &X[0][0], true);
    ag_tensor *w = ag_tensor_new(1, ws, W, false);
    ag_tensor *xk = ag_tensor_new(3, ks, &XK[0][0][0], true);
    int rc = 0;

    printf("CrossEntropyLoss on (3,5) logits, targets [1, 0, 4]\n");
    ag_tensor *loss = ag_cross_entropy(t, x, T, NULL);   /* nn.CrossEntropyLoss()(x, t) */
    printf("loss: ");
    ag_print(loss);

    /* the tutorial's formula, per sample, in double */
    double by_formula[3], mean = 0.0, num = 0.0, den = 0.0;
    for (int i = 0; i < 3; i++) {
        double se = 0.0;
        for (int j = 0; j < 5; j++)
            se += exp(X[i][j]);
        by_formula[i] = -X[i][T[i]] + log(se);
        mean += by_formula[i] / 3.0;
        num += W[T[i]] * by_formula[i];
        den += W[T[i]];
    }
    printf("loss(x, class) = -x[class] + log(sum_j exp(x[j])), mean:\n");
    print_value(mean);

    ag_ce_opts o = ag_ce_defaults();
    o.weight = w;
    ag_tensor *wl = ag_cross_entropy(t, x, T, &o);
    printf("with weight ");
    ag_print(w);
    printf("loss: ");
    ag_print(wl);
    printf("sum_i weight[class_i] loss_i / sum_i weight[class_i]:\n");
    print_value(num / den);
    o.reduction = AG_REDUCTION_NONE;
    printf("per sample (reduction='none'):\n");
    ag_print(ag_cross_entropy(t, x, T, &o));
    ag_backward(t, wl);
    printf("dL/dx: ");
    ag_print(ag_grad(x));

    printf("K-dimensional case: (N,C,d1) = (2,3,4) logits, (2,4) targets\n");
    ag_ce_opts none = ag_ce_defaults();
    none.reduction = AG_REDUCTION_NONE;
    printf("per position: ");
    ag_print(ag_cross_entropy(t, xk, &TK[0][0], &none));
    ag_tensor *lk = ag_cross_entropy(t, xk, &TK[0][0], NULL);
    printf("loss: ");
    ag_print(lk);
    ag_backward(t, lk);
    if (ag_tape_status(t) != AG_OK) {            /* one check for everything above */
        fprintf(stderr, "%s\n", ag_tape_error(t));
        rc = 1;
    } else {
        /* xk.grad[0]: the first sample's (3, 4) block */
        ag_tensor *g0 = ag_tensor_new(2, &ks[1], ag_data(ag_grad(xk)), false);
        printf("dL/dx[0]: ");
        ag_print(g0);
        ag_tensor_free(g0);
        rc |= agree("mean loss", ag_item(loss), mean);
        rc |= agree("weighted mean loss", ag_item(wl), num / den);
    }
    ag_tape_free(t);
    ag_tensor_free(x);
    ag_tensor_free(w);
    ag_tensor_free(xk);
    return rc;
}
