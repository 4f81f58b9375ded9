"""Train: datasets, augmentation policies and their ops, PyTorch training and fine-tuning.

Also the other sources of a model (an imported ONNX file) and robustness/preview helpers built
on the augmentation ops. Imports torch lazily. May import compress (fine-tuning mirrors its
passes), store, models and the base modules; never config, sweep, report or cli.
"""
