"""UbiOps entry point: the same file in every deployment.

UbiOps puts `libraries/` on sys.path, so the Deployment class comes from the `mod` library that nbdev exported.
"""
from mod.core import Deployment  # noqa: F401
