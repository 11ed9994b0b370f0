"""A local Azure Functions host for machines without Core Tools: serves this app's `func.FunctionApp` over aiohttp.

Run it with `python -m devtools.host` (see __main__). It emulates what the app uses: async HTTP triggers on
literal and `{name}` route templates under host.json's route prefix, timer triggers on 6-field NCRONTAB schedules
with %SETTING% references, `POST /admin/functions/{name}` for timers, settings from local.settings.json then the
environment. Anything else the app might declare is refused at startup with a HostError naming it.
"""
