"""Functions the keras.io translations pass as arguments, registered as Keras does it.

kerun reads these names from this file without running it (``kerun validate``) and imports it to
build: ``standardize: custom_standardization``, ``loss: custom_mean_squared_error``,
``metrics: [mean_absolute_error_times_two]``.
"""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="keras_io")
def custom_standardization(input_data):
    """keras.io text_classification_from_scratch: lower-case, drop the "<br />" tags and punctuation."""
    lowercase = tf.strings.lower(input_data)
    stripped_html = tf.strings.regex_replace(lowercase, "<br />", " ")
    return tf.strings.regex_replace(stripped_html, "[!\"#$%&'()*+,-./:;<=>?@\\[\\\\\\]^_`{|}~]", "")


@keras.saving.register_keras_serializable(package="keras_io")
def custom_mean_squared_error(y_true, y_pred):
    """The Keras guide "Training & evaluation with the built-in methods": a loss as a function."""
    return keras.ops.mean(keras.ops.square(y_true - y_pred), axis=-1)


@keras.saving.register_keras_serializable(package="keras_io")
def mean_absolute_error_times_two(y_true, y_pred):
    """A metric as a function (Keras averages it over the batches)."""
    return 2.0 * keras.ops.mean(keras.ops.abs(y_true - y_pred), axis=-1)
