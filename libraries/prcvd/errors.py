"""One small error hierarchy. Every error carries `public_error_message`, which UbiOps shows to the caller."""


class DeploymentError(Exception):
    "Base of every error a deployment raises on purpose; its message is safe to show to the caller."

    def __init__(self, message: str):
        super().__init__(message)
        self.public_error_message = message


class InputError(DeploymentError, ValueError):
    "The caller sent data that cannot be used."


class SpecError(InputError):
    "Data does not match a UbiOps field spec (or the spec itself is malformed)."


class OutputError(DeploymentError, ValueError):
    "The deployment produced output that does not match its output spec: a bug in the deployment, not the caller."


class ImageError(InputError):
    "The portrait could not be read as an image."


class EmptyImageError(ImageError):
    "The file or bytes hold nothing."


class NotAnImageError(ImageError):
    "The bytes are not in an image format Pillow reads."


class TruncatedImageError(ImageError):
    "The image header is fine but the pixel data is cut short or corrupt."


class ImageTooLargeError(ImageError):
    "The image exceeds the byte or pixel limit (decompression bombs land here)."


class ModelError(DeploymentError, RuntimeError):
    "The model artefact is missing, tampered with or built for other library versions."
