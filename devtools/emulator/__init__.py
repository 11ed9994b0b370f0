"""A Microsoft Graph UTCM snapshot emulator with an App Service managed-identity token endpoint.

Run it with `python -m devtools.emulator --port N`; build it in-process with `app.create_app()`; drive it
through the `/_emulator/*` control API (`GET /_emulator/` lists it) or devtools/emulator_client.py.
"""
