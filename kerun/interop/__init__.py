"""Interop: Keras models in as specs (``kerun import``), trained models out (``kerun export``).

:mod:`kerun.interop.importer` reads a ``.keras`` file, an ``.h5`` file or a ``model.to_json()``
file as configuration only (no code runs, so a ``Lambda`` is found and refused before anything is
deserialized) and writes the spec that builds the same model: :mod:`~kerun.interop.keras_config`
reads the configuration, :mod:`~kerun.interop.convert` turns it into a spec,
:mod:`~kerun.interop.weights` carries the weights over. :mod:`kerun.interop.exporter` sends
a run's model out through Keras's own ``Model.export`` and checks every artifact by loading it back.
"""

from __future__ import annotations

from kerun.errors import InteropError

__all__ = ["InteropError"]
