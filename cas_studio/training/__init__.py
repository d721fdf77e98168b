"""Training: the run declaration, the engine, run folders, fine-tuning, distillation and the paper's experiment."""
