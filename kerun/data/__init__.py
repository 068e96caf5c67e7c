"""Data for kerun: the ``data:`` section of a spec turned into ``tf.data`` pipelines.

- :mod:`~kerun.data.sources` reads one source (the table of readers, one module per source type:
  :mod:`~kerun.data.csv`, :mod:`~kerun.data.parquet`, :mod:`~kerun.data.npz`,
  :mod:`~kerun.data.images`, :mod:`~kerun.data.text`, :mod:`~kerun.data.sklearn_data`,
  :mod:`~kerun.data.keras_cache`, :mod:`~kerun.data.synthetic`);
- :mod:`~kerun.data.mapping` maps a source's fields to model inputs and targets;
- :mod:`~kerun.data.pipeline` builds the ``tf.data`` pipelines (in memory or streamed);
- :mod:`~kerun.data.datasets` holds a spec's splits, :mod:`~kerun.data.inputs` the inputs of
  ``kerun predict``.

This module only re-exports.
"""

from kerun.data._common import Arrays
from kerun.data.datasets import Datasets, load_datasets, synthetic_arrays
from kerun.data.inputs import Inputs, read_inputs
from kerun.data.pipeline import StreamErrors
from kerun.data.sources import STREAM_THRESHOLD, read_source

__all__ = ["Arrays", "Datasets", "Inputs", "STREAM_THRESHOLD", "StreamErrors", "load_datasets", "read_inputs", "read_source", "synthetic_arrays"]
