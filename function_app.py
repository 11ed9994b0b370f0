"""The Functions entry point: one FunctionApp that registers the blueprints of snapshot/. Nothing else."""

import azure.functions as func

from snapshot.http_api import bp as http_api
from snapshot.http_fleet import bp as http_fleet
from snapshot.poller import bp as poller

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(http_api)
app.register_functions(http_fleet)
app.register_functions(poller)
