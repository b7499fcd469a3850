"""rtfit: where, and with which runtime, can this model run?

This package only holds the command-line entry point; the work lives in `catalog`, `solver`,
`metadata_service`, `node_agent` and `workflow`.
"""

__version__ = "0.1.0"
