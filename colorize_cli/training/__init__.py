"""Training the colorization GAN (needs the ``[train]`` or ``[torch]`` extra)."""
