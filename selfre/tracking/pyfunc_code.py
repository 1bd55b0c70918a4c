"""The model file of selfre's pyfunc (MLflow models-from-code): MLflow copies this file into the model and runs it
to load the model, with the model's code/ folder (the selfre package) on sys.path. Nothing is unpickled."""

from mlflow.models import set_model

from selfre.tracking.pyfunc_model import SelfrePyfunc

set_model(SelfrePyfunc())
