-- Run once by the postgres image on an empty data folder: the users of basic auth live
-- in their own database beside the runs.
CREATE DATABASE mlflow_auth OWNER mlflow;
