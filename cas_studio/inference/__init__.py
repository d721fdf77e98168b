"""Using a trained model: tasks and decoders, inference, region grouping, prediction and evaluation.

:mod:`~cas_studio.inference.tasks` says what each kind of model does; the other modules ask it.
"""
