"""Data layer: dataset loaders, user file formats, and the paper's noisy-mix builder."""
