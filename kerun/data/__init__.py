"""Data for kerun: the ``data:`` section of a spec turned into ``tf.data`` pipelines.

One module per source type (:mod:`~kerun.data.csv`, :mod:`~kerun.data.parquet`,
:mod:`~kerun.data.npz`, :mod:`~kerun.data.images`, :mod:`~kerun.data.text`,
:mod:`~kerun.data.sklearn_data`, :mod:`~kerun.data.keras_cache`, :mod:`~kerun.data.synthetic`)
reads a source into named fields; :mod:`~kerun.data.mapping` maps fields to model inputs and
targets; :mod:`~kerun.data.pipeline` builds the datasets; :mod:`~kerun.data.datasets` holds the
splits of a spec. This module only re-exports.
"""

from kerun.data.datasets import (Arrays, Datasets, STREAM_THRESHOLD, load_datasets, read_inputs, read_source,
                                 stream_error, synthetic_arrays)

__all__ = ["Arrays", "Datasets", "STREAM_THRESHOLD", "load_datasets", "read_inputs", "read_source", "stream_error", "synthetic_arrays"]
