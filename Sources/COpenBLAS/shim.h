// OpenBLAS's CBLAS (with its openblas_get_corename/num_threads extensions) and LAPACKE.
#include <cblas.h>
#include <lapacke.h>

// Exported by libopenblas but not declared in its headers: the worker pool's lifecycle.
// Workers are created when the library loads and keep the MXCSR they started with (Debian's
// build does not copy the caller's), so after setting flush-to-zero Topiary restarts the
// pool to give every worker the new floating-point state.
int blas_thread_shutdown_(void);
int blas_thread_init(void);
