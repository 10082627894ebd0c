// OpenBLAS's CBLAS (with its openblas_get_corename/num_threads extensions) and LAPACKE.
#include <cblas.h>
#include <lapacke.h>
