"""Feature transformers used inside the model Pipeline. They live here, in the shared library the package
carries, so a pickled Pipeline can be loaded on UbiOps."""
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin


class HOG(TransformerMixin, BaseEstimator):
    "Histogram of oriented gradients of flattened grayscale images (rows of `X`)."

    def __init__(self, image_shape=(25, 25), orientations=9, pixels_per_cell=(5, 5), cells_per_block=(2, 2)):
        self.image_shape = image_shape
        self.orientations = orientations
        self.pixels_per_cell = pixels_per_cell
        self.cells_per_block = cells_per_block

    def fit(self, X, y=None):
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != int(np.prod(self.image_shape)):
            raise ValueError(f"HOG expects rows of {np.prod(self.image_shape)} pixels "
                             f"(images {self.image_shape} flattened); got an array of shape {X.shape}.")
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        from skimage.feature import hog

        X = np.asarray(X, dtype=np.float64).reshape(-1, *self.image_shape)
        return np.stack([hog(x, orientations=self.orientations, pixels_per_cell=self.pixels_per_cell,
                             cells_per_block=self.cells_per_block) for x in X])
