"""Knowledge of one inspection domain that a dataset generator and methods both use."""
