"""One small runnable application per framework, each behind nullptr_auth.

Every example answers the same three routes: ``GET /`` (public), ``GET /me`` (the
current user's ``id`` and ``username``) and ``POST /echo`` (the JSON body it was sent,
byte for byte), and builds its application in a ``create_app``-style factory so that
tests can run it on ``memory://``. Run them from the repository root; each module's
docstring has the command. ``docs/frameworks.md`` explains the code to copy.

This file makes ``examples`` a regular package, so ``examples.flask_app`` is found here
even if an installed distribution also ships a top-level ``examples``.
"""
