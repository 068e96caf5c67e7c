"""A plugin that fails when imported."""
import keras

raise RuntimeError("this plugin is broken on purpose")
