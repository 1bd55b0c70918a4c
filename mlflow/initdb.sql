-- Run once by the postgres image on an empty volume: the basic-auth user store's database.
CREATE DATABASE mlflow_auth OWNER mlflow;
