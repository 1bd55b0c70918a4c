"""selfre: the SELF model (SPP auxiliary loss + hierarchical feature retainer) for person-centric
relation extraction. The core (this package minus `selfre.search`) imports neither Ray nor MLflow."""

__version__ = "0.1.0"
