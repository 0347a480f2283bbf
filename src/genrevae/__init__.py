"""genrevae: VAE latent spaces of music, clustered into genres, tracked with DVC and MLflow."""

__version__ = "0.1.0"
