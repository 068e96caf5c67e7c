import keras


@keras.saving.register_keras_serializable(package="tests")
class Scaled(keras.layers.Layer):
    def __init__(self, factor, *, offset, bias=0.0, **kwargs):
        super().__init__(**kwargs)
        self.factor, self.offset, self.bias = factor, offset, bias

    def call(self, x):
        return x * self.factor + self.offset + self.bias
