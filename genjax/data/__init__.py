"""Input pipelines: offline tfds builders, preprocessing ops, host batches.

    from genjax import data
    shape = data.image_shape(config.data)  # (H, W, C) the model sees
    shapes = data.example_shapes(config.data)  # every field: {'image': ...}
    batches = data.train_iterator(config.data, 128, seed=0, start_step=step)
    for batch in data.eval_iterator(config.data, None, 256): ...

Importing this package imports TensorFlow (quietly, CPU only).
"""
from genjax.data.builders import OFFLINE_BUILDERS
from genjax.data.builders import default_data_dir
from genjax.data.builders import get_builder
from genjax.data.pipeline import DataConfig
from genjax.data.pipeline import Unpaired
from genjax.data.pipeline import eval_dataset
from genjax.data.pipeline import eval_iterator
from genjax.data.pipeline import example_shapes
from genjax.data.pipeline import from_config
from genjax.data.pipeline import image_shape
from genjax.data.pipeline import num_classes
from genjax.data.pipeline import num_eval_examples
from genjax.data.pipeline import stream_seed
from genjax.data.pipeline import train_dataset
from genjax.data.pipeline import train_iterator
from genjax.data.preprocess import OPS
from genjax.data.preprocess import apply_ops
from genjax.data.preprocess import output_shape
from genjax.data.preprocess import output_shapes
from genjax.data.preprocess import parse_ops
from genjax.data.preprocess import written_keys
from genjax.data.sources import fashion_mnist_dir
from genjax.data.sources import load_fashion_mnist_arrays
from genjax.data.sources import load_mnist_arrays
from genjax.data.sources import mnist_pickle_path
