"""Training side of the template: one module per DVC stage (see dvc.yaml)."""
