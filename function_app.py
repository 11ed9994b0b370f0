"""The Functions entry point: one FunctionApp that registers the blueprints of snapshot/. Nothing else."""

import azure.functions as func

from snapshot.http_api import bp as http_api

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(http_api)
