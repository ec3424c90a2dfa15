"""cvgl_core: the importable core of the cvgl-study repository.

Data (synthetic world and real-dataset loaders), models (one registry, one file per
paper module), losses, training, evaluation and visualisation. Notebooks call into
this package; logic lives here.
"""

__version__ = "0.1.0"
