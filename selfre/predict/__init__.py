from selfre.predict.inputs import record_from_input
from selfre.predict.predictor import Prediction, Predictor

__all__ = ["Prediction", "Predictor", "record_from_input"]
