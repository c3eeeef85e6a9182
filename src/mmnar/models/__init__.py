"""Models: their declarations (``spec``, ``registry``: torch-free, read while the workflow is parsed), the
torch contract (``base``), shared components, and one module per model, imported only to build it."""
