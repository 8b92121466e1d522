"""The body schemas of the API: one declaration per request and response body.

Each module holds the bodies of one area (``workflows``, ``executions``, ``triggers``,
``providers``, ``catalogue``); ``base`` the pieces they are made of and the one way a
body is validated; ``definition`` the workflow definition's schemas, drawn from the node
catalogue. The API validates and documents with them (``api/contract.py``,
``api/openapi.py``); the UI's forms and the services read the same limits. No Flask here.
"""
