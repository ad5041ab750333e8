"""The review console: humans read experiments and decide proposals in a browser.

An adapter like the CLI: every page reads through the app layer's use cases and
every decision goes through the same `Review` use case as `cublab proposals`,
so no rule lives here. `app.py` builds the Starlette app, `auth.py` says who the
reader is (a one-time login token, or a trusted reverse proxy's header) and
guards every form with a CSRF token, `pages.py` renders, `decide.py` decides.
"""
