"""prcvd: the shared library every deployment carries (images, faces, specs, errors).

Modules are imported on demand so a deployment loads only what it uses.
"""
__version__ = "0.1.0"
