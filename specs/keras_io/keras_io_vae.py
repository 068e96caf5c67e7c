"""keras.io "Variational AutoEncoder" (fchollet): a model that trains itself.

Its ``train_step`` adds the KL divergence to the reconstruction loss, so the spec gives no loss
and no target: kerun compiles and fits this model as itself, and its three metrics are the
run's history. Shapes are small (8x8 images, latent 2) so the translation trains in a second.
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


def encoder_model(side, latent_dim):
    inputs = keras.Input(shape=(side, side, 1))
    x = layers.Conv2D(8, 3, activation="relu", strides=2, padding="same")(inputs)
    x = layers.Conv2D(16, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Dense(16, activation="relu")(layers.Flatten()(x))
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    return keras.Model(inputs, [z_mean, z_log_var, Sampling()([z_mean, z_log_var])], name="encoder")


def decoder_model(side, latent_dim):
    inputs = keras.Input(shape=(latent_dim,))
    x = layers.Dense((side // 4) * (side // 4) * 16, activation="relu")(inputs)
    x = layers.Reshape((side // 4, side // 4, 16))(x)
    x = layers.Conv2DTranspose(16, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Conv2DTranspose(8, 3, activation="relu", strides=2, padding="same")(x)
    return keras.Model(inputs, layers.Conv2DTranspose(1, 3, activation="sigmoid", padding="same")(x), name="decoder")


@keras.saving.register_keras_serializable(package="keras_io")
class VAE(keras.Model):
    def __init__(self, side=8, latent_dim=2, **kwargs):
        super().__init__(**kwargs)
        self.side, self.latent_dim = side, latent_dim
        self.encoder = encoder_model(side, latent_dim)
        self.decoder = decoder_model(side, latent_dim)
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

    def call(self, data):
        """The reconstruction of the mean encoding (no sampling: the same image every time)."""
        return self.decoder(self.encoder(data)[0])

    def _vae_losses(self, data):
        z_mean, z_log_var, z = self.encoder(data)
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
        return {**super().get_config(), "side": self.side, "latent_dim": self.latent_dim}
