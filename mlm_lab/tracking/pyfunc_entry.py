"""Models-from-code entry point that MLflow runs when it loads a registered mlm_lab model."""

import mlflow.models

from mlm_lab.tracking.pyfunc_model import LanguageModelPyfunc

mlflow.models.set_model(LanguageModelPyfunc())
