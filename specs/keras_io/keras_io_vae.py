"""keras.io "Variational AutoEncoder" (fchollet): a model that trains itself.

Its ``train_step`` adds the KL divergence to the reconstruction loss, so the spec gives no loss
and no target: kerun compiles and fits this model as itself, and its three metrics are the
run's history. The encoder and decoder are written in the spec as sub-models (``models:``) and
given to the VAE as arguments. Shapes are small (8x8 images, latent 2) so it trains in a second.
"""

import keras
import tensorflow as tf
from keras import layers, ops


@keras.saving.register_keras_serializable(package="keras_io")
class Sampling(layers.Layer):
    """Uses (z_mean, z_log_var) to sample z, the vector encoding a digit."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        epsilon = keras.random.normal(shape=ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


@keras.saving.register_keras_serializable(package="keras_io")
class VAE(keras.Model):
    """The encoder and the decoder are the spec's sub-models, built by kerun and passed in
    (``encoder: {type: encoder}``); ``get_config`` carries them so that ``model.keras`` reloads."""

    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

    def call(self, data):
        """The reconstruction of the mean encoding (no sampling: the same image every time)."""
        return self.decoder(self.encoder(data)["z_mean"])

    def _vae_losses(self, data):
        encoded = self.encoder(data)  # a sub-model with several outputs returns them by name
        z_mean, z_log_var, z = encoded["z_mean"], encoded["z_log_var"], encoded["z"]
        reconstruction = self.decoder(z)
        reconstruction_loss = ops.mean(ops.sum(keras.losses.binary_crossentropy(data, reconstruction), axis=(1, 2)))
        kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
        kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
        return reconstruction_loss + kl_loss, reconstruction_loss, kl_loss

    def _track(self, total, reconstruction, kl):
        self.total_loss_tracker.update_state(total)
        self.reconstruction_loss_tracker.update_state(reconstruction)
        self.kl_loss_tracker.update_state(kl)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        with tf.GradientTape() as tape:
            total, reconstruction, kl = self._vae_losses(data)
        grads = tape.gradient(total, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        return self._track(total, reconstruction, kl)

    def test_step(self, data):
        return self._track(*self._vae_losses(data))

    def get_config(self):
        return {**super().get_config(), "encoder": keras.saving.serialize_keras_object(self.encoder),
                "decoder": keras.saving.serialize_keras_object(self.decoder)}

    @classmethod
    def from_config(cls, config):
        parts = {k: keras.saving.deserialize_keras_object(config.pop(k)) for k in ("encoder", "decoder")}
        return cls(**parts, **config)
