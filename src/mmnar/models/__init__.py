"""Models: the contract (``base``), shared components, one module per model, and the registry."""
