"""The hyperparameter search: the search file, the Optuna study, the train stage's trial side."""
