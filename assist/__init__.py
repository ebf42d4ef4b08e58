"""assist: realtime agent assist for debt-collection call centres."""

import os

# vosk (Kaldi) links OpenBLAS.  We already decode one stream per pool thread; BLAS threads on top
# oversubscribe the cores, and when two decodes call BLAS at once OpenBLAS splits the work
# differently, which changes floating-point sums and so, now and then, the recognised words.
# One BLAS thread per decode keeps transcripts reproducible and the CPU accounting honest.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

__version__ = "0.1.0"
