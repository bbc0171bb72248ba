"""The Cython kernels, each behind a Python wrapper with its reference implementation beside it.

- :mod:`~gpi.cython_ext.checksum`: the world checksum's hash (``_checksum.pyx``, numpy reference);
- :mod:`~gpi.cython_ext.ring_ops`: SPSC ring endpoints and progress cells (``_ring.pyx``, pure-Python reference);
- :mod:`~gpi.cython_ext.draw`: quads, circles and lines into draw-list vertices (``_draw.pyx``, numpy references).

:mod:`~gpi.cython_ext.backend` chooses compiled or reference once, at import;
``GPI_PURE_PYTHON=1`` forces the references. This package imports nothing
else from ``gpi`` but :mod:`gpi.errors`.
"""
