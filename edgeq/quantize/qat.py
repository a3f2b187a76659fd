"""Quantization-aware training with tensorflow-model-optimization, then int8 conversion.

tfmot refuses Keras 3 models, so the worker loads the model with tf_keras
(TF_USE_LEGACY_KERAS=1 set before TensorFlow is imported).
"""

from __future__ import annotations

from edgeq.errors import ConfigError
from edgeq.quantize import tf_converter
from edgeq.quantize.engines import EngineJob, register

EPOCHS = 2
LEARNING_RATE = 1e-4  # fine-tuning: small steps keep the trained float weights


@register("tfmot-qat", sources=("keras",), modes=("qat",), package="tensorflow-model-optimization")
def train_and_convert(job: EngineJob) -> bytes:
    """Fine-tune with fake quantization on (x, y), then convert with the learnt ranges."""
    import tensorflow_model_optimization as tfmot
    import tf_keras

    if job.train is None:
        raise ConfigError("mode qat needs labelled training data: pass train=DATA.npz with arrays x and y")
    if tf_converter.keras_3_file(str(job.source)):
        raise ConfigError(f"{job.source.name} was saved by Keras 3 (tf.keras of TensorFlow 2.16+); mode qat needs a "
                          "tf_keras (Keras 2) model, as tfmot refuses Keras 3: build and save it with tf_keras, "
                          "or choose another mode")
    x, y = job.train
    model = tfmot.quantization.keras.quantize_model(tf_converter.load_keras(str(job.source)))
    sparse = y.ndim == 1
    model.compile(optimizer=tf_keras.optimizers.Adam(LEARNING_RATE),
                  loss="sparse_categorical_crossentropy" if sparse else "categorical_crossentropy")
    model.fit(x, y, epochs=int(job.options.get("epochs", EPOCHS)), batch_size=32, verbose=0, shuffle=False)
    int8 = EngineJob(job.source, job.kind, "int8", job.calib if job.calib is not None else x,
                     io=job.io, per_tensor_dense=job.per_tensor_dense)
    return tf_converter.convert(int8, model)
