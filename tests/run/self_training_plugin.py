import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerun_tests_t23")
class TinyVAE(keras.Model):
    """A VAE that trains itself: reconstruction plus a KL term, its own metrics."""

    def __init__(self, features=8, latent=2, **kwargs):
        super().__init__(**kwargs)
        self.features, self.latent = features, latent
        self.enc = keras.layers.Dense(2 * latent)
        self.dec = keras.layers.Dense(features)
        self.total = keras.metrics.Mean(name="total_loss")
        self.kl = keras.metrics.Mean(name="kl_loss")
        self.seed = keras.random.SeedGenerator(1)

    @property
    def metrics(self):
        return [self.total, self.kl]

    def call(self, x):
        mean, log_var = ops.split(self.enc(x), 2, axis=-1)
        return self.dec(mean)

    def vae_losses(self, x):
        mean, log_var = ops.split(self.enc(x), 2, axis=-1)
        z = mean + ops.exp(0.5 * log_var) * keras.random.normal(ops.shape(mean), seed=self.seed)
        rec = ops.mean(ops.sum(ops.square(x - self.dec(z)), axis=-1))
        kl = ops.mean(-0.5 * ops.sum(1 + log_var - ops.square(mean) - ops.exp(log_var), axis=-1))
        return rec + kl, kl

    def train_step(self, data):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            total, kl = self.vae_losses(data)
        grads = tape.gradient(total, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.total.update_state(total)
        self.kl.update_state(kl)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        total, kl = self.vae_losses(data)
        self.total.update_state(total)
        self.kl.update_state(kl)
        return {m.name: m.result() for m in self.metrics}

    def get_config(self):
        return {**super().get_config(), "features": self.features, "latent": self.latent}


@keras.saving.register_keras_serializable(package="kerun_tests_t23")
class ForgetfulScale(keras.layers.Layer):
    """Multiplies by ``factor``; its get_config forgets ``factor`` (as the ViT example's PatchEncoder does)."""

    def __init__(self, factor, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        config = super().get_config()
        config.pop("factor", None)  # the argument a hand-written get_config forgets
        return config


@keras.saving.register_keras_serializable(package="kerun_tests_t23")
class NoKwargs(keras.layers.Layer):
    def __init__(self, units):
        super().__init__()
        self.units = units

    def call(self, x):
        return x
